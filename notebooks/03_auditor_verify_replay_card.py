# %% [markdown]
# # Walkthrough for auditors: the model card, the log's integrity, replaying decisions

# %%
import os
import tempfile
from pathlib import Path

home = Path(os.environ.get("DOCKET_HOME") or tempfile.mkdtemp(prefix="docket-nb3-"))
os.environ["DOCKET_HOME"] = str(home)

from audits.audit import run_audit
from audits.card_source import card_for_version
from audits.cards import missing_sections, render_markdown
from audits.promotion import promote
from models import registry
from models.settings import Settings
from models.spec import load_spec
from serving.access import Principal
from serving.decisions.engine import DecisionEngine
from serving.decisions.replay import replay_decision
from serving.decisions.validation import DecideRequest
from training.synthetic import make_frame, write_synthetic
from training.train import train_use_case

settings = Settings.from_env()
spec = load_spec(write_synthetic(home / "synth", rows=4000, disparity=1.5, seed=3))
version = train_use_case(spec, settings, mitigation="reweighing").version
assert run_audit(spec, settings, version=version).outcome == "PASS"
promote(spec, settings, version, requested_by="operator")

# %% [markdown]
# ## The model card

# %%
client = registry.connect(settings)
card = card_for_version(client, spec, version)
print("empty sections:", missing_sections(card))
print(render_markdown(card)[:1500])

# %% [markdown]
# ## Decisions, the chain, and replay

# %%
engine = DecisionEngine(settings)
engine.start()
rows = make_frame(20, 0.0, seed=11)[spec.feature_names].to_dict(orient="records")
ids = [engine.decide(DecideRequest(use_case=spec.name, features=r), Principal.local("notebook")).decision_id for r in rows]
print(engine.log.verify())
for decision_id in ids[:5]:
    result = replay_decision(settings, engine.log, decision_id)
    print(decision_id, "identical" if result["identical"] else result["differences"])
