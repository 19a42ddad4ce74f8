# %% [markdown]
# # Walkthrough for application developers: ask for a decision, read its reasons
#
# Uses the decision engine in process; over HTTP the same request goes to
# `POST /decide` of `docket serve` with an application API key.

# %%
import json
import os
import tempfile
from pathlib import Path

home = Path(os.environ.get("DOCKET_HOME") or tempfile.mkdtemp(prefix="docket-nb2-"))
os.environ["DOCKET_HOME"] = str(home)

from audits.audit import run_audit
from audits.promotion import promote
from models.settings import Settings
from models.spec import load_spec
from serving.access import Principal
from serving.decisions.engine import DecisionEngine
from serving.decisions.validation import DecideRequest, InvalidFeatures
from training.synthetic import write_synthetic
from training.train import train_use_case

settings = Settings.from_env()
spec = load_spec(write_synthetic(home / "synth", rows=4000, disparity=1.5, seed=3))
version = train_use_case(spec, settings, mitigation="reweighing").version
assert run_audit(spec, settings, version=version).outcome == "PASS"
promote(spec, settings, version, requested_by="operator")

engine = DecisionEngine(settings)
engine.start()

# %% [markdown]
# ## A decision with its rationale, reasons and recourse

# %%
request = DecideRequest(
    use_case=spec.name,
    application_ref="APP-1",
    features={
        "income": 1800,
        "debt": 15000,
        "years_employed": 1,
        "employment": "temporary",
        "postcode_score": -0.5,
    },
)
decision = engine.decide(request, Principal.local("notebook")).model_dump(mode="json")
print(decision["outcome"], round(decision["score"], 3), decision["status"])
print(decision["rationale"]["summary"])
for reason in decision["reasons"]:
    print(" ", reason["code"], reason["text"], round(reason["contribution"], 3))
print(json.dumps(decision["recourse"], indent=2))
print(decision["notice"])

# %% [markdown]
# ## Bad input names the field, the rule and the value

# %%
try:
    engine.decide(DecideRequest(use_case=spec.name, features={"income": -5}), Principal.local("notebook"))
except InvalidFeatures as exc:
    for problem in exc.problems:
        print(".".join(problem.loc), "->", problem.msg)
