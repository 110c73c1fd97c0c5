from tuco_eval.cli import main

raise SystemExit(main())
