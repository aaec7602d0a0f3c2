#!/usr/bin/env bash
# The shell half of action.yml: check inputs, map credentials, run one reconciler
# command, publish outputs, the step summary and the pull-request comment.
#
#   run.sh check-inputs   validate the action's inputs (before anything is installed)
#   run.sh run            run INPUT_COMMAND in the current directory
#
# Inputs arrive as INPUT_* environment variables (see action.yml); GitHub's files are
# GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and GITHUB_EVENT_PATH. Secrets are passed to
# reconciler through the environment only and are masked in the log.
set -uo pipefail

error() { echo "::error title=reconciler::$*"; exit 1; }
output() { [ -n "${GITHUB_OUTPUT:-}" ] && echo "$1=$2" >> "$GITHUB_OUTPUT"; return 0; }
summary() { [ -n "${GITHUB_STEP_SUMMARY:-}" ] && cat >> "$GITHUB_STEP_SUMMARY"; return 0; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
COMMAND="${INPUT_COMMAND:-}"
API_KEY="${INPUT_API_KEY:-}"
CLIENT_ID="${INPUT_OAUTH_CLIENT_ID:-}"
SECRET="${INPUT_OAUTH_SECRET:-}"
AUDIENCE="${INPUT_AUDIENCE:-}"

check_inputs() {
  case "$COMMAND" in
    plan|apply|drift|test) ;;
    *) error "input command must be one of plan, apply, drift, test (got '${COMMAND}')" ;;
  esac
  if [ -n "$API_KEY" ] && { [ -n "$SECRET" ] || [ -n "$AUDIENCE" ]; }; then
    error "conflicting credentials: set either input api-key, or oauth-client-id with oauth-secret (or audience), not both"
  fi
  if [ -n "$SECRET" ] && [ -n "$AUDIENCE" ]; then
    error "conflicting credentials: set input oauth-secret (OAuth client) or audience (workload identity), not both"
  fi
  if { [ -n "$SECRET" ] || [ -n "$AUDIENCE" ]; } && [ -z "$CLIENT_ID" ]; then
    error "set input oauth-client-id: oauth-secret and audience need the OAuth client's ID"
  fi
  if [ -n "$CLIENT_ID" ] && [ -z "$SECRET" ] && [ -z "$AUDIENCE" ]; then
    error "set input oauth-secret (OAuth client), or audience (workload identity), with oauth-client-id"
  fi
}

target_backend() {
  # The backend of the chosen target, from reconciler.yaml (local when there is none).
  reconciler targets --format json | python3 -c '
import json, sys
data = json.load(sys.stdin)
name = sys.argv[1] or data["default_target"]
targets = {t["name"]: t for t in data["targets"]}
print(targets[name]["backend"] if name in targets else "unknown")
' "${INPUT_TARGET:-}"
}

target_name() {
  # The target a command runs on: input target, else reconciler.yaml's default.
  if [ -n "${INPUT_TARGET:-}" ]; then echo "$INPUT_TARGET"; return 0; fi
  reconciler targets --format json \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["default_target"])'
}

plan_failed() {
  # No plan could be made. Validation errors become annotations on their file:line:col,
  # and the sticky comment turns red with the errors: left as it was, an earlier green
  # comment would tell the reviewer that the last good plan still stands.
  local dir="$1" name
  name="$(target_name)" || name="${INPUT_TARGET:-default}"
  reconciler validate --format json > "$dir/validate.json" 2>/dev/null
  python3 "$HERE/report.py" failed "$dir/validate.json" "$dir/plan.err" "$dir/comment.md" \
    "$name" "$(git rev-parse --show-prefix 2>/dev/null)"
  output comment-path "$dir/comment.md"
  post_comment "$dir/comment.md"
}

fork_pull_request() {
  # True for a pull request whose head lives in another repository: GitHub gives such
  # runs no secrets (a deleted fork has no head repository at all).
  case "${GITHUB_EVENT_NAME:-}" in pull_request|pull_request_target) ;; *) return 1 ;; esac
  python3 -c '
import json, os, sys
pr = json.load(open(os.environ["GITHUB_EVENT_PATH"])).get("pull_request") or {}
head = ((pr.get("head") or {}).get("repo") or {}).get("full_name")
base = ((pr.get("base") or {}).get("repo") or {}).get("full_name") or os.environ.get("GITHUB_REPOSITORY")
sys.exit(0 if "head" in pr and head != base else 1)'
}

offline_plan() {
  # A fork's pull request cannot read the control plane: check what can be checked
  # without it (validate, test, lint) and show the change as `diff BASE HEAD`, in a
  # comment that says the live state was not consulted.
  local dir="$1" name base ok=true
  name="$(target_name)" || name="${INPUT_TARGET:-default}"
  base="$(pr_base)" || error "no base commit in the pull request event"
  echo "::notice title=reconciler::pull request from a fork: no secrets, so the live policy is not read; running the offline checks and reconciler diff ${base:0:12} HEAD"
  reconciler validate --format json > "$dir/validate.json" 2>/dev/null || ok=false
  reconciler test --format json > "$dir/test.json" 2> "$dir/test.err" || ok=false
  reconciler lint --format github > "$dir/lint.txt" 2> "$dir/lint.err" || ok=false
  cat "$dir/lint.txt"
  # The diff leaves room for the checks above it (report.py caps those at HEAD_CHARS),
  # so the comment stays under GitHub's size limit as the plan comment does.
  reconciler diff "$base" HEAD --format markdown --max-chars 55000 > "$dir/diff.md" \
    2> "$dir/diff.err" || ok=false
  cat "$dir/test.err" "$dir/lint.err" "$dir/diff.err" >&2
  output has-changes "$(reconciler diff "$base" HEAD --format json 2>/dev/null | python3 -c \
    'import json, sys; print("true" if json.load(sys.stdin)["resource_changes"] else "false")' \
    || echo false)"
  output offline true
  python3 "$HERE/report.py" offline "$dir/validate.json" "$dir/test.json" "$dir/lint.txt" \
    "$dir/diff.md" "$dir/comment.md" "$name" "$(git rev-parse --show-prefix 2>/dev/null)" \
    "$base" "$ok"
  summary < "$dir/comment.md"
  output comment-path "$dir/comment.md"
  post_comment "$dir/comment.md"
  [ "$ok" = true ]
}

github_oidc_token() {
  [ -n "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" ] && [ -n "${ACTIONS_ID_TOKEN_REQUEST_TOKEN:-}" ] \
    || error "workload identity needs an OIDC token: add 'permissions: id-token: write' to the job"
  curl -sSf -H "Authorization: bearer ${ACTIONS_ID_TOKEN_REQUEST_TOKEN}" \
    "${ACTIONS_ID_TOKEN_REQUEST_URL}&audience=${AUDIENCE}" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["value"])'
}

map_credentials() {
  local backend="$1"
  case "$backend" in
    local) ;;
    tailscale)
      if [ -n "$API_KEY" ]; then
        export TS_API_KEY="$API_KEY"
      elif [ -n "$SECRET" ]; then
        export TS_OAUTH_CLIENT_ID="$CLIENT_ID" TS_OAUTH_CLIENT_SECRET="$SECRET"
      elif [ -n "$AUDIENCE" ]; then
        local token
        token="$(github_oidc_token)" || error "could not get a GitHub OIDC token for audience '${AUDIENCE}'"
        echo "::add-mask::${token}"
        export TS_OAUTH_CLIENT_ID="$CLIENT_ID" TS_ID_TOKEN="$token"
      else
        error "target needs Tailscale credentials: set input api-key, or oauth-client-id with oauth-secret (or with audience for workload identity)"
      fi ;;
    headscale)
      [ -z "$SECRET" ] && [ -z "$AUDIENCE" ] \
        || error "Headscale targets take an API key: set input api-key, not oauth-secret or audience"
      [ -n "$API_KEY" ] || error "target needs a Headscale API key: set input api-key"
      export HEADSCALE_API_KEY="$API_KEY" ;;
    *) error "unknown target '${INPUT_TARGET:-}': check input target against reconciler.yaml" ;;
  esac
}

post_comment() {
  # One sticky comment per target: find ours by the hidden marker on its first line.
  # On pull-request events the pull request is the event's; after a merge (push), the
  # one named by input pull-request.
  local body="$1" pr="${INPUT_PULL_REQUEST:-}"
  [ "${INPUT_COMMENT_ON_PR:-true}" = "true" ] || return 0
  if [ -z "$pr" ]; then
    case "${GITHUB_EVENT_NAME:-}" in pull_request|pull_request_target) ;; *) return 0 ;; esac
  fi
  local marker existing
  [ -n "$pr" ] || pr="$(python3 -c 'import json, os; print(json.load(open(os.environ["GITHUB_EVENT_PATH"]))["pull_request"]["number"])')" \
    || { echo "::warning title=reconciler::no pull request number in the event; comment not posted"; return 0; }
  marker="$(head -n 1 "$body")"
  existing="$(gh api "repos/${GITHUB_REPOSITORY}/issues/${pr}/comments" --paginate \
    --jq ".[] | select(.body | startswith(\"${marker}\")) | .id" | head -n 1)" \
    || { echo "::warning title=reconciler::could not list pull-request comments; comment not posted"; return 0; }
  if [ -n "$existing" ]; then
    gh api -X PATCH "repos/${GITHUB_REPOSITORY}/issues/comments/${existing}" -F "body=@${body}" >/dev/null \
      || echo "::warning title=reconciler::could not update the plan comment"
  else
    gh api -X POST "repos/${GITHUB_REPOSITORY}/issues/${pr}/comments" -F "body=@${body}" >/dev/null \
      || echo "::warning title=reconciler::could not post the plan comment"
  fi
}

run_url() {
  # This run's page, where the job's artifacts (plan file, access report) are listed.
  [ -n "${GITHUB_RUN_ID:-}" ] || return 1
  echo "${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY}/actions/runs/${GITHUB_RUN_ID}"
}

pr_base() {
  # The pull request's base commit, from the event; fails outside a pull request.
  python3 -c 'import json, os; print(json.load(open(os.environ["GITHUB_EVENT_PATH"]))["pull_request"]["base"]["sha"])' 2>/dev/null
}

access_report() {
  # The HTML access report (`reconciler report`: matrix, who reaches sensitive tags,
  # just-in-time access, lint, audit notes) beside the plan, for the job to upload.
  # On a pull request it opens with the access changes since the base, when the
  # checkout has the base commit (fetch-depth: 0; a shallow clone does not).
  local dir="$1" base
  local args=(-o "$dir/report.html")
  if [[ "${GITHUB_EVENT_NAME:-}" == pull_request* ]] && base="$(pr_base)" \
      && git cat-file -e "${base}^{commit}" 2>/dev/null; then
    args+=(--base "$base")
  fi
  rm -f "$dir/report.html"  # one left by an earlier step must not pass for this one
  if reconciler report "${args[@]}" 2> "$dir/report.err"; then
    output report-path "$dir/report.html"
  else
    cat "$dir/report.err" >&2
    echo "::warning title=reconciler::could not write the access report"
  fi
}

link_run() {
  # Under the comment: where the full plan and the report are (the comment itself stays
  # under GitHub's size limit and may show only a summary). The renderer leaves room.
  local comment="$1" url
  url="$(run_url)" || return 0
  printf '\n%s\n' "Full plan file and HTML access report (\`report.html\`): the artifacts of [this run](${url})." >> "$comment"
}

apply_reviewed() {
  # Apply the plan reviewed on the pull request. If the live policy moved since (another
  # change landed first), plan again and apply the new plan only if its changes and
  # access diff are the reviewed ones; otherwise apply nothing, say why on the pull
  # request and fail. Writes the path of the plan file to apply to $dir/chosen.
  local dir="$1" reviewed="$2" verdict name
  [ -f "$reviewed" ] || error "plan-file '${reviewed}' not found: download the plan reviewed on the pull request first"
  rm -f "$dir/current.json"
  reconciler plan "${target_args[@]}" -o "$dir/current.json" > /dev/null 2> "$dir/replan.err"
  if [ ! -f "$dir/current.json" ]; then
    cat "$dir/replan.err" >&2
    error "could not plan again to check the reviewed plan; nothing was applied"
  fi
  verdict="$(python3 "$HERE/report.py" compare "$reviewed" "$dir/current.json")" \
    || error "could not read the reviewed plan '${reviewed}'; nothing was applied"
  output reviewed-plan "$verdict"
  case "$verdict" in
    current) echo "$reviewed" > "$dir/chosen" ;;
    identical)
      echo "::notice title=reconciler::the live policy changed since the plan was reviewed; planned again: the same changes and access, so the new plan is applied"
      echo "$dir/current.json" > "$dir/chosen" ;;
    *)
      name="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["target"]["name"])' "$dir/current.json")"
      reconciler show "$dir/current.json" --format markdown > "$dir/current.md"
      python3 "$HERE/report.py" stale "$dir/current.md" "$dir/comment.md" "$name" \
        "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["desired"]["commit"] or "")' "$reviewed")"
      output comment-path "$dir/comment.md"
      summary < "$dir/comment.md"
      post_comment "$dir/comment.md"
      error "the live policy changed since the plan was reviewed, and planning again gives different changes or access; nothing was applied (the new plan is on the pull request)" ;;
  esac
}

record_note() {
  # The audit trail: a git note on the commit now applied (refs/notes/reconciler), with the
  # target, the ETags around the write, the time and who merged, pushed so it outlives
  # the runner. `reconciler history` lists them.
  [ "${INPUT_GIT_NOTE:-true}" = "true" ] || return 0
  local message
  message="$(python3 - "$1" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))
env = os.environ.get
fields = {"target": r["target"], "etag_before": r["etag_before"], "etag_after": r["etag_after"],
          "at": r["applied_at"], "actor": env("GITHUB_ACTOR") or "unknown",
          "pull_request": env("INPUT_PULL_REQUEST") or None,
          "run": (f"{env('GITHUB_SERVER_URL')}/{env('GITHUB_REPOSITORY')}/actions/runs/"
                  f"{env('GITHUB_RUN_ID')}" if env("GITHUB_RUN_ID") else None)}
print("reconciler apply " + " ".join(f"{k}={v}" for k, v in fields.items() if v))
PY
)" || error "applied, but could not read the apply result to record the git note"
  git fetch --quiet origin "+refs/notes/reconciler:refs/notes/reconciler" 2>/dev/null || true
  GIT_COMMITTER_NAME="${GIT_COMMITTER_NAME:-github-actions[bot]}" \
  GIT_COMMITTER_EMAIL="${GIT_COMMITTER_EMAIL:-41898282+github-actions[bot]@users.noreply.github.com}" \
    git notes --ref reconciler append -m "$message" HEAD \
    || error "applied, but could not record the git note on $(git rev-parse --short HEAD)"
  git push --quiet origin refs/notes/reconciler \
    || error "applied, but could not push refs/notes/reconciler: the job needs 'permissions: contents: write'"
  echo "Recorded the apply as a git note on $(git rev-parse --short HEAD) (refs/notes/reconciler)."
}

run() {
  check_inputs
  command -v reconciler >/dev/null || error "reconciler is not installed (the install step failed?)"
  local backend dir target_args=() code url
  if [ "$COMMAND" != test ]; then  # test runs offline: no control plane, no credentials
    backend="$(target_backend)" || error "could not read reconciler.yaml"
    if [ "$COMMAND" = plan ] && [ "$backend" != local ] && [ -z "$API_KEY$SECRET$AUDIENCE" ] \
        && fork_pull_request; then
      dir="${RUNNER_TEMP:-$(mktemp -d)}/reconciler"
      mkdir -p "$dir"
      offline_plan "$dir"
      exit $?
    fi
    map_credentials "$backend"
  fi
  dir="${RUNNER_TEMP:-$(mktemp -d)}/reconciler"
  mkdir -p "$dir"
  [ -n "${INPUT_TARGET:-}" ] && target_args=(--target "$INPUT_TARGET")

  case "$COMMAND" in
    plan)
      rm -f "$dir/plan.json"  # a plan left by an earlier step must not pass for this one
      reconciler plan "${target_args[@]}" --format github --detailed-exitcode \
        -o "$dir/plan.json" 2> "$dir/plan.err"
      code=$?
      cat "$dir/plan.err" >&2
      if [ ! -f "$dir/plan.json" ]; then
        plan_failed "$dir"
        [ "$code" = 0 ] && code=1
        exit "$code"
      fi
      output plan-path "$dir/plan.json"
      output has-changes "$([ "$code" = 2 ] && echo true || echo false)"
      # Drift: live edited outside git, as the plan's three-way view lists it (policy
      # resources under resource_drift, managed device tags by their origin).
      output drift "$(python3 -c '
import json, sys
plan = json.load(open(sys.argv[1]))
drifted = plan["resource_drift"] or [d for d in plan["device_changes"] if d["origin"] == "drift"]
print("true" if drifted else "false")' "$dir/plan.json")"
      reconciler show "$dir/plan.json" --format markdown > "$dir/comment.md"
      access_report "$dir"
      link_run "$dir/comment.md"
      output comment-path "$dir/comment.md"
      post_comment "$dir/comment.md"
      [ "$code" = 1 ] && exit 1
      exit 0 ;;
    apply)
      if [ -n "${INPUT_PLAN_FILE:-}" ]; then
        apply_reviewed "$dir" "$INPUT_PLAN_FILE"
        reconciler apply "$(cat "$dir/chosen")" --format json > "$dir/apply.json"
      else
        reconciler apply "${target_args[@]}" --auto-approve --format json > "$dir/apply.json"
      fi
      code=$?
      [ -s "$dir/apply.json" ] && python3 - "$dir/apply.json" <<'PY'
import json, os, sys
result = json.load(open(sys.argv[1]))
changed = bool(result.get("pushed") or result.get("device_changes"))
with open(os.environ.get("GITHUB_OUTPUT", os.devnull), "a") as out:
    out.write(f"has-changes={'true' if changed else 'false'}\n")
if changed:
    text = (f"Applied {len(result.get('changes', []))} change(s) and "
            f"{len(result.get('device_changes', []))} device tag change(s) to "
            f"`{result.get('target')}` (ETag {result.get('etag_before')} -> "
            f"{result.get('etag_after')}).")
else:
    text = f"No changes: `{result.get('target', '')}` already matches git."
with open(os.environ.get("GITHUB_STEP_SUMMARY", os.devnull), "a") as summary:
    summary.write("### reconciler apply\n\n" + text + "\n")
print(text)
PY
      if [ "$code" = 0 ] && [ -s "$dir/apply.json" ] && python3 -c \
          'import json, sys; r = json.load(open(sys.argv[1])); sys.exit(0 if r["pushed"] or r["device_changes"] else 1)' \
          "$dir/apply.json"; then
        record_note "$dir/apply.json"
      fi
      exit "$code" ;;
    drift)
      reconciler drift "${target_args[@]}" --format markdown > "$dir/drift.md"
      code=$?
      cat "$dir/drift.md"
      summary < "$dir/drift.md"
      access_report "$dir"
      if [ -f "$dir/report.html" ] && url="$(run_url)"; then
        printf '\n%s\n' "Access report of what git grants (\`report.html\`): the artifacts of [this run](${url})." | summary
      fi
      output drift "$([ "$code" = 2 ] && echo true || echo false)"
      if [ "$code" = 2 ]; then
        if [ "${INPUT_FAIL_ON_DRIFT:-true}" = "true" ]; then
          error "live policy differs from git (drift); see the step summary"
        fi
        exit 0
      fi
      exit "$code" ;;
    test)
      reconciler test --format junit > "$dir/junit.xml"
      code=$?
      reconciler test --format text > "$dir/test.txt" 2>&1
      cat "$dir/test.txt"
      { echo "### reconciler test"; echo; echo '```'; cat "$dir/test.txt"; echo '```'; } | summary
      exit "$code" ;;
  esac
}

case "${1:-}" in
  check-inputs) check_inputs ;;
  run) run ;;
  *) echo "usage: run.sh check-inputs|run" >&2; exit 2 ;;
esac
