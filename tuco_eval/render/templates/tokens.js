
(function(){
  var tip=document.getElementById('tip');
  document.querySelectorAll('.tok[title]').forEach(function(el){el.removeAttribute('title');});
  document.addEventListener('mouseover',function(e){
    var el=e.target.closest?e.target.closest('.tok'):null;
    if(!el){tip.hidden=true;return;}
    var where=el.classList.contains('resp')?' (response)':'';
    tip.textContent='TuCo '+Number(el.dataset.tuco).toFixed(4)+'\ntoken '+el.dataset.pos+where+': '+JSON.stringify(el.textContent);
    var box=el.getBoundingClientRect();
    tip.hidden=false;
    tip.style.left=Math.min(box.left,window.innerWidth-tip.offsetWidth-8)+'px';
    tip.style.top=(box.bottom+6)+'px';
  });
})();
