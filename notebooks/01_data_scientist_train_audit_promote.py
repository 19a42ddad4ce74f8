# %% [markdown]
# # Walkthrough for data scientists and operators: train, audit, mitigate, promote
#
# Runs top to bottom as a script (`python notebooks/01_...py`) or as a notebook
# (jupytext percent format). State goes to `DOCKET_HOME` (a temporary folder when unset).

# %%
import os
import tempfile
from pathlib import Path

home = Path(os.environ.get("DOCKET_HOME") or tempfile.mkdtemp(prefix="docket-nb1-"))
os.environ["DOCKET_HOME"] = str(home)

from audits.audit import run_audit
from audits.promotion import PromotionRefused, history, promote
from models import registry
from models.settings import Settings
from models.spec import load_spec
from training.synthetic import write_synthetic
from training.train import train_use_case

settings = Settings.from_env()

# %% [markdown]
# A synthetic use case whose outcomes are shifted against group B, with a postcode score
# that is a proxy for the group (the group itself is never a model input).

# %%
spec = load_spec(write_synthetic(home / "synth", rows=4000, disparity=1.5, seed=3))
print(spec.name, spec.feature_names, "sensitive:", spec.sensitive.attributes)

# %% [markdown]
# ## A plain model fails the gate fixed in the spec

# %%
plain = train_use_case(spec, settings)
report = run_audit(spec, settings, version=plain.version)
print(plain.version, plain.metrics["roc_auc"], report.outcome)
for check in report.failing:
    print(" ", check.id, round(check.value or 0, 3), check.comparator, check.threshold)
assert report.outcome == "FAIL"

# %%
try:
    promote(spec, settings, plain.version, requested_by="data-scientist")
except PromotionRefused as refusal:
    print(refusal)

# %% [markdown]
# ## A mitigated model (reweighing) passes and becomes champion

# %%
mitigated = train_use_case(spec, settings, mitigation="reweighing")
report = run_audit(spec, settings, version=mitigated.version)
print(mitigated.version, mitigated.metrics["roc_auc"], report.outcome)
assert report.outcome == "PASS"
event = promote(spec, settings, mitigated.version, requested_by="data-scientist")
client = registry.connect(settings)
print("champion:", registry.alias_version(client, spec.name, registry.CHAMPION))
for e in history(client, spec.name):
    print(e.at, e.action, e.version, e.requested_by, e.audit_status)
