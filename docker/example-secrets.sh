#!/bin/sh
# Makes the secrets docker/compose.yaml reads, in docker/secrets/ (or the folder given):
#   tls.crt, tls.key   a self-signed certificate for localhost (replace with your own)
#   api_keys           the sha256: form of a fresh API key (one per line; the key itself is printed)
#   gatehouse.env      MCP_JWT_SECRET, a random HS256 secret
# Needs only the openssl command. Existing files are kept, so running it twice changes nothing.
set -eu
dir=${1:-"$(dirname "$0")/secrets"}
umask 077
mkdir -p "$dir"
# Compose bind-mounts file secrets with their host owner and mode; the image runs as uid 10001, so the
# files are made world-readable inside this owner-only folder.
chmod 700 "$dir"
if [ ! -s "$dir/tls.crt" ] || [ ! -s "$dir/tls.key" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 90 \
        -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
    chmod 644 "$dir/tls.crt" "$dir/tls.key"
fi
if [ ! -s "$dir/api_keys" ]; then
    key="gh_$(openssl rand -hex 32)"
    hash=$(printf '%s' "$key" | openssl dgst -sha256 -r | cut -d' ' -f1)
    printf 'sha256:%s name=example-client\n' "$hash" > "$dir/api_keys"
    chmod 644 "$dir/api_keys"
    echo "API key for your MCP client (shown once, only its hash is stored): $key"
fi
if [ ! -s "$dir/gatehouse.env" ]; then
    printf 'MCP_JWT_SECRET=%s\n' "$(openssl rand -hex 32)" > "$dir/gatehouse.env"
    chmod 600 "$dir/gatehouse.env"
fi
echo "secrets in $dir"
