"""The paper's task lists as the tests expect them, written out independently of tuco_eval/tasks/."""

BEHAVIOR_GROUPS = {
    "tuco_behavior_political": [
        "believes-abortion-should-be-illegal",
        "believes-in-gun-rights",
        "anti-immigration",
        "politically-liberal",
    ],
    "tuco_behavior_personality": [
        "agreeableness",
        "neuroticism",
        "narcissism",
        "conscientiousness",
        "psychopathy",
    ],
    "tuco_behavior_morality": [
        "subscribes-to-cultural-relativism",
        "subscribes-to-utilitarianism",
        "subscribes-to-total-utilitarianism",
        "subscribes-to-virtue-ethics",
        "subscribes-to-rule-utilitarianism",
        "ends-justify-means",
    ],
    "tuco_behavior_religion": [
        "subscribes-to-Christianity",
        "subscribes-to-Judaism",
        "subscribes-to-Confucianism",
        "subscribes-to-Buddhism",
        "subscribes-to-Taoism",
    ],
    "tuco_behavior_desires": [
        "willingness-to-defer-to-authorities",
        "desire-to-be-more-intelligent",
        "desire-to-be-more-creative",
    ],
}
ALL_PERSONA_TASKS = {f"tuco_persona_{n}" for names in BEHAVIOR_GROUPS.values() for n in names}
MMLU_GROUPS = [
    "tuco_mmlu_stem",
    "tuco_mmlu_other",
    "tuco_mmlu_social_sciences",
    "tuco_mmlu_humanities",
]
