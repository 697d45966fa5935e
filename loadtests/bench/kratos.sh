# Sourced by the benchmark scripts: the Kratos they load, in memory with
# --dev and bcrypt cost 4, pinned to KRATOS_CPU, on free ports of
# 127.0.0.1, and one signed-in identity for the generators that take a
# token. Needs: name, IMAGE, KRATOS_CPU, and die (from the script).
# Sets PUB, ADM and token.
# shellcheck shell=bash

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts Kratos as container $name and waits for it (at most 30 s).
start_kratos() {
  PUB=$(free_port)
  ADM=$(free_port)
  docker run -d --name "${name:?}" --network host --cpuset-cpus "$KRATOS_CPU" \
    -v "$PWD/ory/kratos:/etc/config/kratos:ro" \
    -e DSN=memory -e SQA_OPT_OUT=true -e LOG_LEVEL=warning -e HASHERS_BCRYPT_COST=4 \
    -e SERVE_PUBLIC_HOST=127.0.0.1 -e SERVE_PUBLIC_PORT="$PUB" -e SERVE_PUBLIC_BASE_URL="http://127.0.0.1:$PUB/" \
    -e SERVE_ADMIN_HOST=127.0.0.1 -e SERVE_ADMIN_PORT="$ADM" -e SERVE_ADMIN_BASE_URL="http://127.0.0.1:$ADM/" \
    "$IMAGE" serve -c /etc/config/kratos/kratos.yml --dev --sqa-opt-out >/dev/null
  for _ in $(seq 1 60); do
    curl -sf "http://127.0.0.1:$PUB/health/ready" >/dev/null && break
    sleep 0.5
  done
  curl -sf "http://127.0.0.1:$PUB/health/ready" >/dev/null || { docker logs --tail 20 "$name" >&2; die "Kratos was not ready in 30 s"; }
}

# Creates a verified identity through the admin API and logs it in as a
# native app: its session token in $token.
session_token() {
  local email="bench-$$@orygate.test" password="bench-password-$$-not-for-production" flow
  curl -sf -X POST "http://127.0.0.1:$ADM/admin/identities" -H 'Content-Type: application/json' \
    -d "{\"schema_id\":\"person\",\"traits\":{\"email\":\"$email\",\"name\":{\"first\":\"Bench\",\"last\":\"Mark\"}},\"credentials\":{\"password\":{\"config\":{\"password\":\"$password\"}}},\"verifiable_addresses\":[{\"value\":\"$email\",\"verified\":true,\"via\":\"email\",\"status\":\"completed\"}]}" >/dev/null \
    || die "could not create the benchmark identity"
  flow=$(curl -sf "http://127.0.0.1:$PUB/self-service/login/api" | jq -r .id)
  token=$(curl -sf -X POST "http://127.0.0.1:$PUB/self-service/login?flow=$flow" -H 'Content-Type: application/json' \
    -d "{\"method\":\"password\",\"identifier\":\"$email\",\"password\":\"$password\"}" | jq -r .session_token)
  if [ -z "$token" ] || [ "$token" = null ]; then
    die "could not log in the benchmark identity"
  fi
}
