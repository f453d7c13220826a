"""The HTML templates (Jinja2, autoescaped). One self-contained page each: inline CSS and SVG, no scripts,
no links to anything outside the file."""

from __future__ import annotations

BASE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ r.dataset }} - {{ heading }}</title>
<style>
body{font-family:sans-serif;margin:24px auto;max-width:1250px;color:#222;line-height:1.4;padding:0 12px}
h1{font-size:1.6em;margin-bottom:4px} h2{border-bottom:2px solid #ddd;padding-bottom:3px;margin-top:32px}
.label{background:#fff3cd;border:2px solid #e0a800;padding:10px 14px;font-weight:bold;font-size:1.1em}
.warn{background:#f8d7da;border:2px solid #c82333;padding:8px 14px;font-weight:bold}
table{border-collapse:collapse;margin:8px 0;font-size:.9em} td,th{border:1px solid #ccc;padding:3px 7px;
text-align:left;vertical-align:top} th{background:#f2f2f2} td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1a7f37;font-weight:bold}.bad{color:#c82333;font-weight:bold} details{margin:6px 0}
summary{cursor:pointer;font-weight:bold} pre{background:#f6f8fa;padding:8px;overflow:auto;font-size:.8em}
.muted{color:#666;font-size:.9em} .grid{display:flex;flex-wrap:wrap;gap:18px}
.cert{font-size:1.15em;border-left:6px solid #1a7f37;background:#eef7f0;padding:8px 12px}
.cert.fail{border-color:#c82333;background:#fbeaec} .words li{margin:4px 0}
.small{display:flex;flex-wrap:wrap;gap:4px 14px;align-items:flex-start}
</style></head><body>
<h1>{{ r.title }}</h1>
<p class="muted">{{ r.dataset }} &middot; {{ r.deliberation }} &middot; {{ heading }}</p>
<p class="label">{{ r.label }}</p>
{% block body %}{% endblock %}
</body></html>
"""

INTERNAL = """{% extends "base" %}{% block body %}
<p class="warn">INTERNAL REPORT - for KSZ engineers only. It holds counts of the input data: never hand it out
with the scrambled data (give researchers report_shareable.html).</p>
{% include "story" %}
<h2>Summary</h2>
<table>
<tr><th>constraint certificate</th><td>{% if r.certificate.ok %}<span class="ok">0 violations</span>{% else %}<span
 class="bad">{{ r.certificate.violations }} violations</span>{% endif %} ({{ r.certificate.rules }} rules,
 {{ r.certificate.row_checks }} row checks)</td></tr>
<tr><th>exact matches with an input person-period</th><td class="n">{{ r.privacy.recount.total_exact }}</td></tr>
<tr><th>rare input combinations reproduced</th><td class="n">{{ r.privacy.recount.total_rare }}</td></tr>
{% for k, v in r.datasets.items() %}<tr><th>{{ k }}</th><td>{{ v.persons }} persons, {{ v.person_periods }}
 person-periods</td></tr>{% endfor %}
{% if r.fidelity.score is defined %}<tr><th>fidelity (sdmetrics quality score)</th><td class="n">{{ r.fidelity.score }}</td></tr>{% endif %}
</table>

<h2>1. Constraint certificate</h2>
<p>Every rule checked on the scrambled data by the independent checker: rows checked and rows violating,
by kind of rule.</p>
{% if r.certificate.issues %}<p class="bad">{{ r.certificate.issues|length }} structural issues:
{% for i in r.certificate.issues %}{{ i.code }} {{ i.message }}{% if not loop.last %}; {% endif %}{% endfor %}</p>{% endif %}
<table><tr><th>kind</th><th>rules</th><th>rows checked</th><th>violations</th></tr>
{% for k in kinds %}<tr><td>{{ k.kind }}</td><td class="n">{{ k.rules }}</td><td class="n">{{ k.checked }}</td>
<td class="n {{ 'bad' if k.violations else 'ok' }}">{{ k.violations }}</td></tr>{% endfor %}</table>
{% set broken = r.certificate.results|selectattr("violations")|list %}
{% if broken %}<p class="bad">Rules with violations:</p>
<table><tr><th>rule</th><th>kind</th><th>variables</th><th>reason</th><th>rows checked</th><th>violations</th></tr>
{% for x in broken %}<tr><td>{{ x.rule }}</td><td>{{ x.kind }}</td><td>{{ x.variables|map("show")|join(", ") }}</td>
<td>{{ x.reason }}</td><td class="n">{{ x.checked }}</td><td class="n bad">{{ x.violations }}</td></tr>
{% endfor %}</table>{% endif %}
<details><summary>all {{ r.certificate.results|length }} rules, one by one
({{ r.certificate.results|length - broken|length }} with 0 violations)</summary>
<table><tr><th>rule</th><th>kind</th><th>variables</th><th>reason</th><th>rows checked</th><th>violations</th></tr>
{% for x in r.certificate.results %}<tr><td>{{ x.rule }}</td><td>{{ x.kind }}</td><td>{{ x.variables|map("show")|join(", ") }}</td>
<td>{{ x.reason }}</td><td class="n">{{ x.checked }}</td><td class="n {{ 'bad' if x.violations else 'ok' }}">{{ x.violations }}</td></tr>
{% endfor %}</table></details>

<h2>2. Coverage</h2>
<p>Categories present per variable (share of the code list) in {{ r.coverage.series|map("show")|join(" / ") }}. Counts are
occurrences in the published table blocks. Coverage target: every input category at least
{{ r.coverage.k }} times where the constraints allow.</p>
{{ charts.coverage }}
<table><tr><th>variable</th><th>codes</th>{% for s in r.coverage.series %}<th>in {{ s }}</th>{% endfor %}
{% if "sample" in r.coverage.series %}<th>sample misses</th><th>of which scrambled has</th>{% endif %}
<th>input categories scrambled misses</th></tr>
{% for v in r.coverage.variables %}<tr><td>{{ v.variable }}</td><td class="n">{{ v.codes }}</td>
{% for s in r.coverage.series %}<td class="n">{{ v.present[s] }}</td>{% endfor %}
{% if "sample" in r.coverage.series %}<td class="n">{{ v.sample_misses }}</td><td class="n">{{ v.scrambled_covers }}</td>{% endif %}
<td class="n {{ 'bad' if v.scrambled_misses else '' }}">{{ v.scrambled_misses }}</td></tr>{% endfor %}</table>
{% for v in r.coverage.variables %}<details><summary>{{ v.variable }} - {{ v.label }}</summary>
{{ charts.variables[v.variable] }}
<table><tr><th>code</th><th>label</th>{% for s in r.coverage.series %}<th>{{ s }}</th>{% endfor %}</tr>
{% for c in v.categories %}<tr><td>{{ c.code }}</td><td>{{ c.label }}</td>{% for s in r.coverage.series %}
<td class="n">{{ c[s] }}</td>{% endfor %}</tr>{% endfor %}</table></details>{% endfor %}

<h3>Drift of the marginals</h3>
{% set d = r.drift %}
<p>Per categorical variable, its table block whose category shares moved most from the input's: total variation
distance (half the summed differences of the shares; 0 = equal, 1 = disjoint), beside the distance a random draw
of as many rows from the input shows by chance. Coverage adds up to {{ r.coverage.k }} rows per rare category on
purpose. {% if d.over %}<b>{{ d.over|length }} variable(s) moved more than {{ d.tolerated_excess }} beyond
chance: {{ d.over|map("show")|join(", ") }}.</b>{% else %}No variable moved more than {{ d.tolerated_excess }}
beyond chance.{% endif %}</p>
<table><tr><th>variable</th><th>table block</th><th>distance</th><th>by chance</th><th>beyond chance</th></tr>
{% for e in d.variables %}<tr><td>{{ e.variable }}</td><td>{{ e.table }}{{ e.block }}</td><td class="n">{{ e.tvd }}</td>
<td class="n">{{ e.chance }}</td><td class="n {{ 'bad' if e.excess > d.tolerated_excess else '' }}">{{ e.excess }}</td></tr>
{% endfor %}</table>

<h2>3. Privacy</h2>
{% include "privacy_words" %}
{% set rc = r.privacy.recount %}
<p>Fresh recount over every person-period, on {{ rc.quasi_identifiers|length }} quasi-identifiers: scrambled
person-periods equal to an input person-period, and equal to an input combination held by fewer than
{{ rc.k }} persons.</p>
<table><tr><th>period</th><th>exact matches</th><th>rare reproductions</th><th>redrawn by the guard</th></tr>
{% for p, n in rc.exact_matches.items() %}<tr><td>{{ p }}</td><td class="n">{{ n }}</td>
<td class="n">{{ rc.rare_reproductions[p] }}</td><td class="n">{{ r.privacy.guard.get("collisions_before", {}).get(p, "") }}</td></tr>{% endfor %}
</table>
{% set o = r.privacy.guard.get("outsider") %}{% if o %}
<p>Near-copies (numbers within the guard's tolerance), beside a held-out slice of {{ o.held_out_persons }} real
persons measured the same way: a scrambled person should come no closer to the population than a real one does.</p>
<table><tr><th>figure</th><th>scrambled, before the guard</th><th>scrambled, after</th><th>held-out real persons</th></tr>
<tr><td>person-periods within tolerance of another real one</td><td class="n">{{ o.output_person_periods_within_tolerance_share_before }}</td><td class="n">0</td><td class="n">{{ o.held_out_person_periods_within_tolerance_share }}</td></tr>
<tr><td>paths within tolerance of fewer than k real ones</td><td class="n">{{ o.output_path_copies_share_before }}</td><td class="n">0</td><td class="n">{{ o.held_out_path_copies_share }}</td></tr>
{% set c = o.get("closest_record_differing_quasi_identifiers") %}{% if c %}<tr><td>closest record, median differing quasi-identifiers ({{ o.closest_record_period }})</td><td></td><td class="n">{{ c.output_median }}</td><td class="n">{{ c.held_out_median }}</td></tr>{% endif %}
</table>{% endif %}
{% set d = r.privacy.distance %}
<p>Distance to the closest input record (period {{ d.period }}): for {{ d.rows }} sampled scrambled persons,
the number of the {{ d.variables }} quasi-identifiers that differ from the closest of {{ d.reference_rows }}
sampled input persons (of {{ d.reference_total }}). Minimum {{ d.min }}, median {{ d.median }}.</p>
{{ charts.distance }}
{% set a = r.privacy.anonymeter %}
<p>anonymeter attacks against the input (risk = success on the input beyond success on the control, 95%
interval). Control: {{ a.get("control", "cut from the input") }}.{% if not a.get("control_held_out") %}
Scramble with <code>--hold-out N</code> for a control of persons the scrambler never read.{% endif %}</p>
{% if a.get("skipped") %}<p class="muted">skipped: {{ a.skipped }}</p>{% else %}
<p class="muted">rows: input {{ a.rows.input }}, control {{ a.rows.control }}, scrambled {{ a.rows.scrambled }}</p>
<table><tr><th>attack</th><th>attacks</th><th>risk</th><th>interval</th><th>attack rate</th><th>baseline rate</th><th>control rate</th></tr>
{% for name in ["singling_out", "linkability", "inference"] %}{% set x = a[name] %}<tr><td>{{ name }}
{% if x.get("secret") %}(secret: {{ x.secret }}){% endif %}{% if x.get("note") %}<br><span class="muted">anonymeter:
{{ x.note }}</span>{% endif %}</td>{% if x.get("skipped") %}<td colspan="6">skipped: {{ x.skipped }}</td>
{% else %}<td class="n">{{ a.attacks[name] }}</td><td class="n">{{ x.risk }}</td><td>{{ x.ci|map("show")|join(" - ") }}</td>
<td class="n">{{ x.attack_rate }}</td><td class="n">{{ x.baseline_rate }}</td><td class="n">{{ x.control_rate }}</td>{% endif %}</tr>
{% endfor %}
{% for x in a.get("block_inference", []) %}<tr><td>inference of {{ x.secret }} from the swap block
{{ x.block|map("show")|join(", ") }}</td>{% if x.get("skipped") %}<td colspan="6">skipped: {{ x.skipped }}</td>
{% else %}<td class="n">{{ a.n_attacks }}</td><td class="n">{{ x.risk }}</td><td>{{ x.ci|map("show")|join(" - ") }}</td>
<td class="n">{{ x.attack_rate }}</td><td class="n">{{ x.baseline_rate }}</td><td class="n">{{ x.control_rate }}</td>{% endif %}</tr>
{% endfor %}</table>{% endif %}

<h2>4. Fidelity</h2>
{% set f = r.fidelity %}
{% if f.get("skipped") %}<p class="muted">skipped: {{ f.skipped }}</p>{% else %}
<p>sdmetrics QualityReport on period {{ f.period }} ({{ f.rows.input }} input and {{ f.rows.scrambled }}
scrambled rows sampled): overall {{ f.score }}.
{% for k, v in f.properties.items() %}{{ k }} {{ v }}. {% endfor %}</p>
<p>Mean pair score by what the spec says about the pair (kept by rule: the relation is a declared constraint;
broken on purpose: no rule links the pair, so scrambling draws them apart):</p>
<table>{% for k, v in f.pair_means.items() %}<tr><th>{{ k }}</th><td class="n">{{ v }}</td></tr>{% endfor %}</table>
{{ charts.shapes }}
<details><summary>column pair trends ({{ f.pairs|length }} pairs)</summary>
<table><tr><th>variable</th><th>variable</th><th>metric</th><th>score</th><th>status</th><th>rules</th></tr>
{% for p in f.pairs %}<tr><td>{{ p.a }}</td><td>{{ p.b }}</td><td>{{ p.metric }}</td><td class="n">{{ p.score }}</td>
<td>{{ p.status }}</td><td>{{ p.rules|map("show")|join(", ") }}</td></tr>{% endfor %}</table></details>{% endif %}

<h2>5. Relations</h2>
{% include "relations" %}

<h2>6. Provenance</h2>
<table>{% for k, v in r.provenance.items() %}<tr><th>{{ k }}</th><td>{% if v is mapping %}{% for a, b in v.items() %}{{ a }}:
{{ b }}{% if not loop.last %}<br>{% endif %}{% endfor %}{% else %}{{ v }}{% endif %}</td></tr>{% endfor %}</table>
<p class="muted">report timings: {% for k, v in r.timings_s.items() %}{{ k }} {{ v }} s{% if not loop.last %}, {% endif %}{% endfor %}</p>
{% endblock %}
"""

STORY = """{% set c = r.certificate %}{% set rc = r.privacy.recount %}
{% set misses = r.coverage.variables|sum(attribute="scrambled_misses") %}
<p class="cert{{ ' fail' if c.violations or rc.total_exact }}"><b>Certificate:</b>
{{ c.violations }} violations of {{ c.rules }} rules ({{ c.row_checks }} row checks) &middot;
{% set below = r.provenance.get("coverage_gaps", [])|length %}
{% set shown = r.provenance.get("coverage_gaps", [])|selectattr("status", "equalto", "impossible")|list|length %}
coverage: {% if misses %}{{ misses }} input categories missing from the scrambled data{% else %}every input
category present{% endif %}{% if below %}, {{ below }} below the target of {{ r.coverage.k }} ({{ shown }} of them
shown impossible; listed in the manifest's coverage_gaps){% else %} (target {{ r.coverage.k }} each){% endif %} &middot;
{% if r.drift is defined %}{% if r.drift.over %}{{ r.drift.over|length }} variable(s) drifted beyond chance{% else %}no
marginal drift beyond chance{% endif %} &middot;{% endif %}
{% if rc.total_exact == 0 %}no real situation: 0 scrambled person-periods equal an input one{% else %}
{{ rc.total_exact }} scrambled person-periods equal an input one{% endif %}</p>
<h2>The story</h2>
<p>Per categorical variable, the share of each category in {{ r.coverage.series|map("show")|join(" / ") }} (the input is
the population the run was scrambled from). The sample is what a classic draw of whole persons would give:
rare categories drop out; the scrambled data are drawn to cover them. Hover a bar for its value; the tables in
section 2 give the counts.</p>
<div class="small">{% for name, chart in charts.story.items() %}{{ chart }}{% endfor %}</div>
"""

PRIVACY_WORDS = """{% set p = r.privacy %}
<ul class="words">
{% if p.recount is defined %}<li><b>Exact matches: {{ p.recount.total_exact }}.</b> Scrambled person-periods whose
{{ p.recount.quasi_identifiers|length }} quasi-identifiers all equal those of some input person in the same
period. 0 means no scrambled record depicts a real person's situation on those variables.</li>
<li><b>Rare reproductions: {{ p.recount.total_rare }}.</b> Scrambled person-periods equal to an input combination
that fewer than {{ p.recount.k }} persons share; such a combination could point at a few real people.</li>{% endif %}
{% if p.distance is defined and p.distance.rows %}<li><b>Distance to the closest record: at least {{ p.distance.min }},
median {{ p.distance.median }}.</b> For {{ p.distance.rows }} sampled scrambled persons, how many of
{{ p.distance.variables }} quasi-identifiers differ from the most similar input person; 0 would be a copy.
{% if p.distance.share_within_1 is not none %}{{ (p.distance.share_within_1 * 100)|round(1) }}% are within one
variable of an input person.{% endif %}</li>{% endif %}
{% set a = p.get("anonymeter", {}) %}
{% if a and not a.get("skipped") %}
{% set words = {"singling_out": "Could an attacker write a description that fits exactly one input person?",
 "linkability": "Could an attacker holding two halves of a person's attributes join them through the scrambled data?",
 "inference": "Could an attacker who knows some attributes guess a secret one better than chance?"} %}
<li>Attacks (anonymeter) by someone who holds the scrambled data. Each risk is the attack's success on input
persons beyond its success on control persons who were not in the input, from 0 (the scrambled data give no
advantage) to 1; the 95% interval says how sure the figure is.<ul>
{% for name, x in a.items() if x is mapping and x.risk is defined %}<li><b>{{ name|replace("_", " ") }}: risk
{{ x.risk }}</b>{% if x.ci is defined %} (95% interval {{ x.ci|map("show")|join(" to ") }}){% endif %}.
{{ words.get(name, "") }}</li>{% endfor %}</ul></li>
{% endif %}
{% for key, x in p.items() if key not in ("recount", "distance", "anonymeter", "guard") %}<li><b>{{ key|replace("_", " ") }}:</b>
{{ x }}</li>{% endfor %}
</ul>
"""

RELATIONS = """<p>{{ r.relations.rules|length }} rules keep relations between variables (and over time); every
other pair of variables is drawn apart on purpose: do not analyse relations between variables that no rule
links.</p>
<table><tr><th>rule</th><th>kind</th><th>variables</th><th>reason</th></tr>
{% for x in r.relations.rules %}<tr><td>{{ x.id }}</td><td>{{ x.kind }}{% if x.over_time %} (over time){% endif %}</td>
<td>{{ x.variables|map("show")|join(", ") }}</td><td>{{ x.reason }}</td></tr>{% endfor %}</table>
<details><summary>per variable: kept with / broken with</summary>
<table><tr><th>variable</th><th>kept by rule with</th><th>taken together (swap block) with</th><th>broken on purpose with</th></tr>
{% for v in r.relations.variables %}<tr><td>{{ v.variable }}</td><td>{{ v.kept_with|map("show")|join(", ") }}</td>
<td>{{ v.swapped_with|map("show")|join(", ") }}</td><td class="muted">{{ v.broken_with|map("show")|join(", ") }}</td></tr>{% endfor %}
</table></details>
"""

SHAREABLE = """{% extends "base" %}{% block body %}
{% set h = r.headline %}
<p class="cert{{ ' fail' if h.get('violations') or h.no_real_situation == false }}"><b>Certificate:</b>
{% if h.violations is defined %}{{ h.violations }} violations of the {{ h.rules }} declared rules
({{ h.row_checks }} row checks){% else %}rules not checked for this report{% endif %} &middot;
coverage: {{ h.codes_present }} of {{ h.codes }} codes of {{ h.variables }} categorical variables present &middot;
{% if h.no_real_situation %}no real situation: no person-period equals one of the input
{% elif h.no_real_situation is none %}no record of the no-real-situation check{% else %}some person-periods equal one of the input{% endif %}</p>
<h2>What the scrambled data hold</h2>
<p>One chart per categorical variable: the share of each category in the scrambled data (hover a bar for its
value). Only the scrambled data are shown: this report never sees the input, so no input count can leak
through it. Categories absent from the scrambled data are marked "absent"; counts below
{{ r.small_cell_threshold }} are not drawn.</p>
<div class="small">{% for name, chart in charts.story.items() %}{{ chart }}{% endfor %}</div>
<p>This dataset was generated for developing and testing analysis programs. Every person in it is fictitious:
values were scrambled and redrawn so that no record equals a real person's record. Results computed on it
mean nothing about the real population.</p>
<h2>About</h2>
<table>{% for k, v in r.about.items() %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}
<tr><th>panel</th><td>{{ r.panel.grain }} {{ r.panel.periods|map("show")|join(", ") }}; identifier {{ r.panel.identifier }}
(a meaningless sequence number)</td></tr>
<tr><th>small-cell threshold</th><td>counts below {{ r.small_cell_threshold }} are shown as
&lt;{{ r.small_cell_threshold }}</td></tr></table>

<h2>1. What holds and what does not</h2>
{% include "relations" %}

<h2>2. Tables</h2>
{% for t in r.codebook.tables %}<details><summary>{{ t.name }} (periods {{ t.periods|map("show")|join(", ") }})</summary>
<table><tr><th>column</th><th>variable</th><th>period</th></tr>{% for c in t.columns %}<tr><td>{{ c.column }}</td>
<td>{{ c.variable }}</td><td>T{% if c.offset > 0 %}+{{ c.offset }}{% elif c.offset < 0 %}{{ c.offset }}{% endif %}</td></tr>
{% endfor %}</table></details>{% endfor %}

<h2>3. Codebook</h2>
<p>Categories per variable present in the scrambled data (share of the code list):</p>
{{ charts.coverage }}
<table><tr><th>variable</th><th>label</th><th>type</th><th>timing</th><th>constraints</th><th>source</th></tr>
{% for v in r.codebook.variables %}<tr><td>{{ v.name }}</td><td>{{ v.label }}</td><td>{{ v.type }}</td><td>{{ v.timing }}</td>
<td>{% for k, x in v.constraints.items() %}{{ k }}: {{ x }}{% if not loop.last %}; {% endif %}{% endfor %}</td>
<td>{{ v.source }}</td></tr>{% endfor %}</table>
{% for v in r.codebook.variables if v.get("codes") %}<details><summary>{{ v.name }} - {{ v.label }}
({{ v.codes_in_scrambled }} of {{ v.codes|length }} codes in the scrambled data)</summary>
{{ charts.variables[v.name] }}
<table><tr><th>code</th><th>label</th><th>in scrambled data</th><th>scrambled count</th></tr>
{% for c in v.codes %}<tr><td>{{ c.code }}</td><td>{{ c.label }}</td><td>{{ "yes" if c.in_scrambled else "no" }}</td>
<td class="n">{{ c.scrambled }}</td></tr>{% endfor %}</table></details>{% endfor %}
{% endblock %}
"""
