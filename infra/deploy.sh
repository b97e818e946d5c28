#!/usr/bin/env bash
# Deploy topten to Azure without azd: build, package, provision, publish, smoke-test.
#
#   infra/deploy.sh -g RESOURCE_GROUP [-l LOCATION] [-e ENV_NAME] [-p NAME=VALUE ...] [--binary PATH]
#   infra/deploy.sh --package-only OUTDIR [--binary PATH]      # no Azure: build and assemble only
#   infra/deploy.sh --smoke-only --app NAME -g RESOURCE_GROUP [--url https://HOST]   # smoke test only
#
# Steps: (1) release build of `handler` for Linux x86-64 and the Functions package
# (infra/package.sh: host.json, function folders, the binary, nothing else); (2) `az group create`
# when the group does not exist (needs -l); (3) `az deployment group create` of bicep/topten.bicep
# with environmentName=ENV_NAME (default topten) and principalId = the signed-in user or service
# principal (data access for `topten publish`); (4) zip deploy of the package to the Flex
# Consumption app; (5) smoke calls: GET /api/health (200, or 503 with the store reachable before the
# first publish), the recommendations route without a key (401) and with a function key (200, or
# 503 before the first publish).
#
#   -p NAME=VALUE  extra bicep/topten.bicep parameter, repeatable (e.g. -p cosmosCapacityMode=provisioned)
#   --skip-infra   steps 1, 4, 5 only (code change on an existing deployment)
#   --binary PATH  use a prebuilt handler (x86-64 Linux ELF) instead of building
# Needs: the Azure CLI (`az`, signed in with `az login`), curl, and what infra/package.sh needs.
# Exit status: 0 success, 1 a step failed, 2 usage error or missing/unauthenticated Azure CLI.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "deploy.sh: ERROR: $*" >&2; exit 1; }
usage_error() { echo "deploy.sh: $* (see --help)" >&2; exit 2; }
log() { echo "deploy.sh: $*" >&2; }

rg="" location="" env_name="topten" app="" url="" binary="" package_only="" smoke_only=0 skip_infra=0
params=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -g|--resource-group) [[ $# -ge 2 ]] || usage_error "$1 needs a value"; rg="$2"; shift 2 ;;
        -l|--location) [[ $# -ge 2 ]] || usage_error "$1 needs a value"; location="$2"; shift 2 ;;
        -e|--env) [[ $# -ge 2 ]] || usage_error "$1 needs a value"; env_name="$2"; shift 2 ;;
        -p|--parameter) [[ $# -ge 2 && "$2" == *=* ]] || usage_error "$1 needs NAME=VALUE"; params+=("$2"); shift 2 ;;
        --app) [[ $# -ge 2 ]] || usage_error "$1 needs a value"; app="$2"; shift 2 ;;
        --url) [[ $# -ge 2 ]] || usage_error "$1 needs a value"; url="$2"; shift 2 ;;
        --binary) [[ $# -ge 2 ]] || usage_error "$1 needs a path"; binary="$2"; shift 2 ;;
        --package-only) [[ $# -ge 2 ]] || usage_error "$1 needs OUTDIR"; package_only="$2"; shift 2 ;;
        --smoke-only) smoke_only=1; shift ;;
        --skip-infra) skip_infra=1; shift ;;
        *) usage_error "unknown argument: $1" ;;
    esac
done

package_args=()
[[ -n "$binary" ]] && package_args+=(--binary "$binary")

# ---- package only: no Azure ----------------------------------------------------------------
if [[ -n "$package_only" ]]; then
    exec bash "$REPO_ROOT/infra/package.sh" --force "${package_args[@]}" "$package_only"
fi

# ---- Azure CLI present and signed in -------------------------------------------------------
require_az() {
    command -v az >/dev/null 2>&1 || {
        echo "deploy.sh: the Azure CLI (az) is not installed; see https://learn.microsoft.com/cli/azure/install-azure-cli" >&2
        exit 2
    }
    az account show --output none >/dev/null 2>&1 || {
        echo "deploy.sh: the Azure CLI is not signed in (or the token expired): run 'az login', then 'az account set --subscription ID'" >&2
        exit 2
    }
}

# ---- smoke test ----------------------------------------------------------------------------
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
# http_call URL [HEADER_FILE] -> prints "STATUS BODY_FILE"
http_call() {
    local url="$1" headers="${2:-}" body="$workdir/body.$RANDOM"
    local args=(--silent --show-error --max-time 30 --output "$body" --write-out '%{http_code}')
    [[ -n "$headers" ]] && args+=(--header "@$headers")
    local status
    status="$(curl "${args[@]}" "$url" 2>/dev/null)" || true
    [[ "$status" =~ ^[0-9]{3}$ ]] || status=000
    [[ -f "$body" ]] || : > "$body"
    echo "$status $body"
}

smoke() {
    local host="$1" failed=0 status body tries
    command -v curl >/dev/null 2>&1 || die "curl is needed for the smoke test"
    log "smoke: https://$host/api/health (waiting for the host to start the handler)"
    for tries in $(seq 1 30); do
        read -r status body < <(http_call "https://$host/api/health")
        if [[ "$status" == 200 ]] || { [[ "$status" == 503 ]] && grep -q '"reachable":true' "$body"; }; then
            break
        fi
        sleep 10
    done
    case "$status" in
        200) log "  ok: health 200 ($(head -c 200 "$body"))" ;;
        503) log "  ok: health 503 with the store reachable: nothing published yet ($(head -c 200 "$body"))" ;;
        *) log "  FAIL: health answered $status after $tries tries: $(head -c 300 "$body" 2>/dev/null)"; failed=1 ;;
    esac

    local url="https://$host/api/recommendations/smoke-test-user?k=3"
    read -r status body < <(http_call "$url")
    if [[ "$status" == 401 ]]; then log "  ok: recommendations without a key: 401"
    else log "  FAIL: recommendations without a key answered $status (function-level auth expected 401)"; failed=1; fi

    if command -v az >/dev/null 2>&1 && az account show --output none >/dev/null 2>&1; then
        # The key stays in a 0600 file and a curl header file: never printed, never in argv.
        local keyfile="$workdir/key.hdr"
        (umask 077
         key="$(az functionapp keys list -g "$rg" -n "$app" --query functionKeys.default -o tsv 2>/dev/null || true)"
         [[ -n "$key" ]] && printf 'x-functions-key: %s\n' "$key" > "$keyfile")
        if [[ -s "$keyfile" ]]; then
            read -r status body < <(http_call "$url" "$keyfile")
            case "$status" in
                200) log "  ok: recommendations with a key: 200 ($(head -c 200 "$body"))" ;;
                503) if grep -q no_active_version "$body"; then
                         log "  ok: recommendations with a key: 503 no_active_version; publish a model (README, Deployment)"
                     else
                         log "  FAIL: recommendations with a key answered 503: $(head -c 300 "$body")"; failed=1
                     fi ;;
                *) log "  FAIL: recommendations with a key answered $status: $(head -c 300 "$body")"; failed=1 ;;
            esac
        else
            log "  FAIL: could not read the app's default function key (az functionapp keys list)"; failed=1
        fi
    else
        log "  skipped: recommendations with a key (needs a signed-in Azure CLI)"
    fi
    [[ "$failed" == 0 ]] || die "smoke test failed"
    log "smoke test passed: https://$host/api/recommendations/{userId} (key in header x-functions-key)"
}

if [[ "$smoke_only" == 1 ]]; then
    [[ -n "$app" ]] || usage_error "--smoke-only needs --app NAME"
    [[ -n "$rg" ]] || usage_error "--smoke-only needs -g RESOURCE_GROUP"
    if [[ -n "$url" ]]; then
        host="${url#https://}"
        host="${host%%/*}"
    elif command -v az >/dev/null 2>&1 && az account show --output none >/dev/null 2>&1; then
        host="$(az functionapp show -g "$rg" -n "$app" --query defaultHostName -o tsv)" || die "no function app $app in $rg"
    else
        host="$app.azurewebsites.net"
        log "Azure CLI missing or not signed in: assuming host $host"
    fi
    smoke "$host"
    exit 0
fi

# ---- full deployment -----------------------------------------------------------------------
[[ -n "$rg" ]] || usage_error "missing -g RESOURCE_GROUP"
require_az
log "subscription: $(az account show --query '[name, id]' -o tsv | tr '\t' ' ')"

# 1. build and package (before touching Azure, so a build error costs nothing)
bash "$REPO_ROOT/infra/package.sh" "${package_args[@]}" --zip "$workdir/package.zip" "$workdir/package"

deployment="topten-$(date -u +%Y%m%dT%H%M%SZ)"
if [[ "$skip_infra" == 0 ]]; then
    # 2. resource group
    if [[ "$(az group exists -n "$rg")" != true ]]; then
        [[ -n "$location" ]] || usage_error "resource group $rg does not exist: give -l LOCATION to create it"
        log "creating resource group $rg in $location"
        az group create -n "$rg" -l "$location" --tags azd-env-name="$env_name" --output none
    fi

    # 3. infrastructure; the signed-in principal gets data access for `topten publish`
    user_type="$(az account show --query user.type -o tsv)"
    if [[ "$user_type" == servicePrincipal ]]; then
        principal_id="$(az ad sp show --id "$(az account show --query user.name -o tsv)" --query id -o tsv 2>/dev/null || true)"
        principal_type=ServicePrincipal
    else
        principal_id="$(az ad signed-in-user show --query id -o tsv 2>/dev/null || true)"
        principal_type=User
    fi
    [[ -n "$principal_id" ]] || log "could not resolve the signed-in principal's object id: no developer data access will be granted"
    log "deploying bicep/topten.bicep to $rg as $deployment (a first deployment takes a few minutes)"
    deploy_params=(environmentName="$env_name" principalId="$principal_id" principalType="$principal_type")
    [[ -n "$location" ]] && deploy_params+=(location="$location")
    deploy_params+=(${params[@]+"${params[@]}"})
    az deployment group create -g "$rg" -n "$deployment" \
        --template-file "$REPO_ROOT/bicep/topten.bicep" \
        --parameters "${deploy_params[@]}" \
        --output none || die "az deployment group create failed (details: az deployment group show -g $rg -n $deployment)"
    output() { az deployment group show -g "$rg" -n "$deployment" --query "properties.outputs.$1.value" -o tsv; }
    app="$(output AZURE_FUNCTION_APP_NAME)"
    log "provisioned: app $app, store $(output TOPTEN_STORE), training input $(output TRAINING_INPUT)"
else
    app="$(az functionapp list -g "$rg" --query "[?tags.\"azd-service-name\"=='api'].name | [0]" -o tsv)"
    [[ -n "$app" ]] || die "no topten function app in $rg (tag azd-service-name=api); deploy without --skip-infra first"
fi

# 4. code: zip deploy to the Flex Consumption app (authenticates with the CLI's Entra token;
#    basic publishing credentials are disabled on the app)
log "publishing the package to $app"
az functionapp deployment source config-zip -g "$rg" -n "$app" --src "$workdir/package.zip" --output none \
    || die "zip deploy failed"

# 5. smoke
host="$(az functionapp show -g "$rg" -n "$app" --query defaultHostName -o tsv)"
smoke "$host"
