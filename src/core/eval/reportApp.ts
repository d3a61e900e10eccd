/**
 * The question browser of `report.html`: a small script of our own, inlined with a nonce, that
 * renders the questions from the JSON the report carries. Rows are built as they scroll into
 * view (a page at a time), a row's details (program, calls, plan) only when opened, so a report
 * of 5,000 questions opens fast. Filters: benchmark (or category), outcome, failure kind.
 * Everything from the run is set as text (`textContent`), never as markup.
 */

/** One question as the browser script reads it (short keys keep a 5,000-question report small). */
export interface ReportRow {
  /** id, line, answer type, benchmark or category */
  id: string;
  line: number;
  type: string;
  bench: string;
  q: string;
  gt: string;
  /** the compared prediction, and the program's own answer when it differs */
  pred: string | null;
  ans?: string;
  score: number;
  /** correct | partly | wrong | failed | not_evaluated */
  st: string;
  kind: string | null;
  err?: string;
  rec: string;
  /** index into the thumbnails, -1 for none; the image size the boxes are in */
  img: number;
  w: number;
  h: number;
  /** detections: x1, y1, x2, y2, call ordinal, label */
  boxes: [number, number, number, number, number, string][];
  prog?: string;
  /** program lines that made a tool call, and the line that raised */
  ran: number[];
  errLine?: number;
  plan?: string;
  calls: [string, number | null, string, string][];
}

export interface ReportData {
  palette: readonly string[];
  thumbs: string[];
  rows: ReportRow[];
}

export const REPORT_APP_CSS = `
.filters{display:flex;flex-wrap:wrap;gap:10px;align-items:center;margin:8px 0 12px}
.filters label{display:flex;gap:6px;align-items:center}
.qlist{list-style:none;margin:0;padding:0}
.qrow{display:grid;grid-template-columns:140px 1fr;gap:12px;border-top:1px solid #d0d7de;padding:10px 0}
.thumb{position:relative;width:128px;height:96px;background:#f6f8fa;border:1px solid #d0d7de}
.thumb img,.thumb svg{position:absolute;inset:0;width:100%;height:100%;object-fit:contain}
.qhead{display:flex;gap:8px;flex-wrap:wrap;align-items:baseline}
.badge{border-radius:10px;padding:0 8px;font-size:12px;border:1px solid}
.badge.correct{color:#1a7f37;border-color:#1a7f37}.badge.wrong,.badge.partly{color:#cf222e;border-color:#cf222e}
.badge.failed,.badge.not_evaluated{color:#9a6700;border-color:#9a6700}
.prog{counter-reset:none}.prog .ln{display:block}.prog .ln.ran{background:#dafbe1}.prog .ln.raised{background:#ffebe9}
.prog .no{display:inline-block;width:3em;color:#57606a;user-select:none}
.more{margin:12px 0;color:#57606a}
`;

/** The script; it reads `#report-data` and fills `#questions`. Plain ES2019, no dependencies. */
export const REPORT_APP_JS = `(function(){
var data=JSON.parse(document.getElementById('report-data').textContent);
var rows=data.rows, root=document.getElementById('questions');
function el(tag,cls,text){var e=document.createElement(tag);if(cls)e.className=cls;if(text!==undefined&&text!==null)e.textContent=String(text);return e;}
function opt(sel,value,label){var o=el('option',null,label);o.value=value;sel.appendChild(o);}
var bar=el('div','filters'), count=el('span','muted');
function select(label,values){var l=el('label',null,label);var s=el('select');opt(s,'','all');values.forEach(function(v){opt(s,v[0],v[1]);});l.appendChild(s);bar.appendChild(l);return s;}
function uniq(f){var seen={},out=[];rows.forEach(function(r){var v=f(r);if(v&&!seen[v]){seen[v]=1;out.push(v);}});return out.sort();}
var fBench=select('benchmark',uniq(function(r){return r.bench;}).map(function(v){return [v,v];}));
var fOut=select('outcome',[['correct','correct'],['wrong','wrong or partly right'],['failed','failed (no answer)'],['not_evaluated','not evaluated (outage)']]);
var fKind=select('failure kind',uniq(function(r){return r.kind;}).map(function(v){return [v,v];}));
bar.appendChild(count);root.appendChild(bar);
var list=el('ol','qlist');root.appendChild(list);
var more=el('p','more');root.appendChild(more);
var shown=[],next=0,PAGE=50;
function matches(r){
if(fBench.value&&r.bench!==fBench.value)return false;
if(fKind.value&&r.kind!==fKind.value)return false;
var o=fOut.value;
if(o==='correct'&&r.st!=='correct')return false;
if(o==='wrong'&&r.st!=='wrong'&&r.st!=='partly')return false;
if(o==='failed'&&r.st!=='failed')return false;
if(o==='not_evaluated'&&r.st!=='not_evaluated')return false;
return true;}
function thumb(r){
var t=el('div','thumb');
if(r.img>=0){var im=el('img');im.alt='';im.loading='lazy';im.src=data.thumbs[r.img];t.appendChild(im);}
if(r.boxes.length&&r.w>0&&r.h>0){
var ns='http://www.w3.org/2000/svg',svg=document.createElementNS(ns,'svg');
svg.setAttribute('viewBox','0 0 '+r.w+' '+r.h);svg.setAttribute('preserveAspectRatio','xMidYMid meet');
var sw=Math.max(r.w,r.h)/64;
r.boxes.forEach(function(b){var rc=document.createElementNS(ns,'rect');rc.setAttribute('x',b[0]);rc.setAttribute('y',b[1]);rc.setAttribute('width',Math.max(1,b[2]-b[0]));rc.setAttribute('height',Math.max(1,b[3]-b[1]));rc.setAttribute('fill','none');rc.setAttribute('stroke',data.palette[b[4]%data.palette.length]);rc.setAttribute('stroke-width',sw);var ti=document.createElementNS(ns,'title');ti.textContent=b[5];rc.appendChild(ti);svg.appendChild(rc);});
t.appendChild(svg);}
return t;}
function details(r,d){
if(r.err){d.appendChild(el('h3',null,'Error'));d.appendChild(el('pre',null,r.err));}
if(r.prog){d.appendChild(el('h3',null,'Program (green: lines whose tool calls ran; red: the line that raised)'));var pre=el('pre','prog');
r.prog.split('\\n').forEach(function(line,i){var n=i+1;var s=el('span','ln'+(r.ran.indexOf(n)>=0?' ran':'')+(r.errLine===n?' raised':''));s.appendChild(el('span','no',n));s.appendChild(document.createTextNode(line));pre.appendChild(s);});
d.appendChild(pre);} else d.appendChild(el('p','muted','No program.'));
if(r.calls.length){d.appendChild(el('h3',null,'Tool calls'));var tb=el('table'),hd=el('tr');['tool','line','arguments','result'].forEach(function(h){hd.appendChild(el('th',null,h));});tb.appendChild(hd);
r.calls.forEach(function(c){var tr=el('tr');tr.appendChild(el('td',null,c[0]));tr.appendChild(el('td','n',c[1]===null?'':c[1]));tr.appendChild(el('td',null,c[2]));tr.appendChild(el('td',null,c[3]));tb.appendChild(tr);});d.appendChild(tb);}
if(r.plan){d.appendChild(el('h3',null,'Plan'));d.appendChild(el('pre',null,r.plan));}}
function row(r){
var li=el('li','qrow');li.setAttribute('data-id',r.id);li.appendChild(thumb(r));
var body=el('div'),head=el('div','qhead');
head.appendChild(el('span','badge '+r.st,r.st==='not_evaluated'?'not evaluated':r.st));
head.appendChild(el('span','muted','line '+r.line+' · '+r.id+' · '+r.type+(r.bench?' · '+r.bench:'')));
if(r.kind)head.appendChild(el('span','warn',r.kind));
body.appendChild(head);body.appendChild(el('div','qtext',r.q));
var ans=el('div');ans.appendChild(el('span','muted','answer: '));ans.appendChild(el('strong',null,r.pred===null?'none':r.pred));
if(r.ans!==undefined)ans.appendChild(el('span','muted',' (program answered '+JSON.stringify(r.ans)+')'));
ans.appendChild(el('span','muted',' · ground truth: '));ans.appendChild(el('strong',null,r.gt));ans.appendChild(el('span','muted',' · score '+r.score.toFixed(2)));
body.appendChild(ans);
var d=el('details'),sm=el('summary',null,'program, calls, plan');d.appendChild(sm);
var filled=false;d.addEventListener('toggle',function(){if(d.open&&!filled){filled=true;details(r,d);}});
body.appendChild(d);var a=el('a',null,'run record');a.href=r.rec;body.appendChild(a);
li.appendChild(body);return li;}
function page(){var end=Math.min(shown.length,next+PAGE);for(;next<end;next++)list.appendChild(row(rows[shown[next]]));more.textContent=next<shown.length?(shown.length-next)+' more below':'';}
function apply(){list.textContent='';shown=[];rows.forEach(function(r,i){if(matches(r))shown.push(i);});next=0;count.textContent=shown.length+' of '+rows.length+' questions';page();}
[fBench,fOut,fKind].forEach(function(s){s.addEventListener('change',apply);});
if('IntersectionObserver' in window){new IntersectionObserver(function(es){if(es.some(function(e){return e.isIntersecting;}))page();},{rootMargin:'800px'}).observe(more);}
else{var b=el('button',null,'show more');b.addEventListener('click',page);root.appendChild(b);}
apply();
})();`;
