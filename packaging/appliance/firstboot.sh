#!/bin/bash
# Keyward appliance first-boot dialogue, on the console (tty1) before any login prompt.
# Runs once (keyward-firstboot.service, until /var/lib/keyward-firstboot.done exists):
#   1. network: DHCP or a static address, host name;  2. NTP servers;
#   3. root key: a local passphrase (Argon2id) or IBM Key Protect (API key, instance, root key);
#   4. single appliance, new cluster or join a cluster (etcd beside keyward; docs/cluster.md),
#      then keyward init / cluster init / cluster join (CA, server certificate, master key);
#   5. first client: paste the vCenter certificate, or issue one (not when joining: the
#      cluster's clients are trusted already);  6. SSH: stays off unless asked for.
# Defaults come from the OVF properties (vApp options) when VMware Tools provides them.
#
# KEYWARD_FIRSTBOOT_ROOT (tests only, tests/appliance_firstboot.rs): every file is written
# under that directory instead of /, with systemctl, runuser, keyward and the network tools
# stubbed on PATH. Paths written INTO files stay the appliance's own.
set -uo pipefail
umask 077

R=${KEYWARD_FIRSTBOOT_ROOT:-}
CONFIG=$R/etc/keyward/config.toml
DATA=$R/var/lib/keyward
DONE=$R/var/lib/keyward-firstboot.done

say() { printf '%s\n' "$*"; }
ask() { # ask VAR PROMPT DEFAULT
    local reply
    read -r -p "$2${3:+ [$3]}: " reply || reply=""
    printf -v "$1" '%s' "${reply:-$3}"
}
ask_secret() { # ask_secret VAR PROMPT (asked twice, must match, not empty)
    local a b
    while true; do
        read -r -s -p "$2: " a; echo
        read -r -s -p "again: " b; echo
        if [[ -n "$a" && "$a" == "$b" ]]; then printf -v "$1" '%s' "$a"; return; fi
        say "empty or different; once more"
    done
}
ovf_property() { # ovf_property KEY -> value from the OVF environment, if any
    local env
    env=$(vmtoolsd --cmd "info-get guestinfo.ovfEnv" 2>/dev/null) || return 0
    sed -n "s/.*oe:key=\"$1\" oe:value=\"\([^\"]*\)\".*/\1/p" <<<"$env" | head -n1
}

say ""
say "=== Keyward appliance: first boot ==="
say "Answer each question; Enter takes the value in brackets."

# 1. Network
nic=$(ip -o link show | awk -F': ' '$2 != "lo" { print $2; exit }')
ask hostname "Host name (vCenter will connect to this name)" "$(ovf_property keyward.hostname || true)"
hostname=${hostname:-keyward}
ask address "IPv4 address/prefix on $nic (empty: DHCP)" "$(ovf_property keyward.ip || true)"
{
    echo "auto $nic"
    if [[ -z "$address" ]]; then
        echo "iface $nic inet dhcp"
    else
        ask gateway "Default gateway" "$(ovf_property keyward.gateway || true)"
        ask dns "DNS servers (space-separated)" "$(ovf_property keyward.dns || true)"
        echo "iface $nic inet static"
        echo "    address $address"
        [[ -n "$gateway" ]] && echo "    gateway $gateway"
        [[ -n "${dns:-}" ]] && echo "    dns-nameservers $dns"
    fi
} >"$R/etc/network/interfaces.d/keyward"
chmod 0644 "$R/etc/network/interfaces.d/keyward"
if [[ -n "$address" && -n "${dns:-}" ]]; then
    printf 'nameserver %s\n' $dns >"$R/etc/resolv.conf"
    chmod 0644 "$R/etc/resolv.conf"
fi
echo "$hostname" >"$R/etc/hostname"
chmod 0644 "$R/etc/hostname"
hostname "$hostname"
sed -i "s/^127.0.1.1.*/127.0.1.1\t$hostname/" "$R/etc/hosts"
ifdown "$nic" 2>/dev/null; ifup "$nic" || say "warning: $nic did not come up; check the answers with 'ip addr'"

# 2. NTP
ask ntp "NTP servers (space-separated; empty: Debian's pool)" "$(ovf_property keyward.ntp || true)"
mkdir -p "$R/etc/systemd/timesyncd.conf.d"
if [[ -n "$ntp" ]]; then
    printf '[Time]\nNTP=%s\n' "$ntp" >"$R/etc/systemd/timesyncd.conf.d/keyward.conf"
    chmod 0644 "$R/etc/systemd/timesyncd.conf.d/keyward.conf"
fi
timedatectl set-ntp true 2>/dev/null
systemctl restart systemd-timesyncd 2>/dev/null

# 3. Root key
say ""
say "Root key: it wraps the master key that seals every key this appliance holds."
say "  1) local passphrase (Argon2id; kept in /etc/keyward/passphrase, 0600, for unattended restarts)"
say "  2) IBM Key Protect customer root key (revocable from IBM Cloud)"
ask choice "Choice" "1"
if [[ "$choice" == 2 ]]; then
    ask_secret api_key "IBM Cloud API key"
    ask instance "Key Protect instance ID (GUID)" ""
    ask crk "Root key ID" ""
    ask region "Region" "us-south"
    printf '%s\n' "$api_key" >"$R/etc/keyward/keyprotect.apikey"
    unset api_key
    chown keyward:keyward "$R/etc/keyward/keyprotect.apikey"
    chmod 0600 "$R/etc/keyward/keyprotect.apikey"
    sed -i 's/^provider = "local"/provider = "keyprotect"/' "$CONFIG"
    cat >>"$CONFIG" <<TOML

# Written by the first-boot dialogue.
[keyprotect]
instance_id = "$instance"
root_key_id = "$crk"
region = "$region"
api_key_file = "/etc/keyward/keyprotect.apikey"
TOML
else
    say "  (joining a cluster later in this dialogue: enter the passphrase the cluster's first node was given)"
    ask_secret passphrase "Root key passphrase"
    printf '%s\n' "$passphrase" >"$R/etc/keyward/passphrase"
    unset passphrase
    chown keyward:keyward "$R/etc/keyward/passphrase"
    chmod 0600 "$R/etc/keyward/passphrase"
    sed -i 's|^# passphrase_file = "/etc/keyward/passphrase"|passphrase_file = "/etc/keyward/passphrase"|' "$CONFIG"
fi

# 4. Single appliance or cluster, then initialise (as the service user, so every file it makes
# belongs to it). keyward.service itself waits for this dialogue to finish (Before=) and starts
# only once it succeeded.
as_keyward() { runuser -u keyward -- "$@"; }
again() { say "$1; the dialogue runs again at next boot."; exit 1; }

# etcd's own TLS: a CA made on the first node and copied to every node that joins (in
# /root/keyward-join.tar.gz). Members authenticate each other and remote clients with it;
# keyward reaches its own member over loopback (plain http, accepted on loopback only).
ETCD_CA=/etc/keyward/etcd-ca.pem
ETCD_CA_KEY=/etc/keyward/etcd-ca.key
# etcd runs as its own user, which cannot enter /etc/keyward (0750 root:keyward): its copies.
ETCD_MEMBER_CA=/etc/etcd/keyward-ca.pem
ETCD_MEMBER=/etc/etcd/keyward-member.pem
ETCD_MEMBER_KEY=/etc/etcd/keyward-member-key.pem
ETCD_CLIENT=/etc/keyward/etcd-client.pem
ETCD_CLIENT_KEY=/etc/keyward/etcd-client-key.pem
etcd_cert() { # etcd_cert CERT KEY CN [SAN]: a P-256 certificate for TLS server and client use, signed by the etcd CA
    local ext
    ext=$(mktemp)
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n%s\n' \
        "${4:+subjectAltName=$4}" >"$ext"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$R$2" -subj "/CN=$3" 2>/dev/null |
        openssl x509 -req -CA "$R$ETCD_CA" -CAkey "$R$ETCD_CA_KEY" -set_serial "0x$(openssl rand -hex 16)" \
            -days 3650 -extfile "$ext" -out "$R$1" 2>/dev/null
    local rc=$?
    rm -f "$ext"
    return $rc
}
etcd_setup() { # etcd_setup NAME IP: this node's etcd and keyward certificates, etcd's TLS settings, keyward after etcd
    mkdir -p "$R/etc/etcd" "$R/etc/systemd/system/etcd.service.d" "$R/etc/systemd/system/keyward.service.d"
    chmod 0755 "$R/etc/etcd"
    etcd_cert "$ETCD_MEMBER" "$ETCD_MEMBER_KEY" "$1" "IP:$2,IP:127.0.0.1,DNS:localhost" &&
        etcd_cert "$ETCD_CLIENT" "$ETCD_CLIENT_KEY" "keyward-$1" || again "the etcd certificates could not be made"
    cp "$R$ETCD_CA" "$R$ETCD_MEMBER_CA"
    chmod 0644 "$R$ETCD_CA" "$R$ETCD_MEMBER_CA" "$R$ETCD_MEMBER" "$R$ETCD_CLIENT"
    chmod 0600 "$R$ETCD_CA_KEY" "$R$ETCD_MEMBER_KEY" "$R$ETCD_CLIENT_KEY"
    chown etcd "$R$ETCD_MEMBER_KEY"
    chown keyward "$R$ETCD_CLIENT_KEY"
    # Beside /etc/default/etcd (membership and URLs, which `keyward cluster join` rewrites).
    cat >"$R/etc/systemd/system/etcd.service.d/keyward-tls.conf" <<UNIT
# Written by the Keyward first-boot dialogue: mutual TLS between members and for remote clients.
[Service]
Environment=ETCD_CERT_FILE=$ETCD_MEMBER ETCD_KEY_FILE=$ETCD_MEMBER_KEY
Environment=ETCD_TRUSTED_CA_FILE=$ETCD_MEMBER_CA ETCD_CLIENT_CERT_AUTH=true
Environment=ETCD_PEER_CERT_FILE=$ETCD_MEMBER ETCD_PEER_KEY_FILE=$ETCD_MEMBER_KEY
Environment=ETCD_PEER_TRUSTED_CA_FILE=$ETCD_MEMBER_CA ETCD_PEER_CLIENT_CERT_AUTH=true
UNIT
    printf '[Unit]\nWants=etcd.service\nAfter=etcd.service\n' >"$R/etc/systemd/system/keyward.service.d/cluster.conf"
    chmod 0644 "$R/etc/systemd/system/etcd.service.d/keyward-tls.conf" "$R/etc/systemd/system/keyward.service.d/cluster.conf"
    systemctl daemon-reload
}
cluster_table() { # cluster_table ENDPOINT...: the [cluster] table, this node's own member first
    # A previous, unfinished run's table goes first (it ends at the blank line after it).
    sed -i '/^# Written by the first-boot dialogue: cluster$/,/^$/d' "$CONFIG"
    local list
    list=$(printf '"%s", ' "$@")
    cat >>"$CONFIG" <<TOML

# Written by the first-boot dialogue: cluster
[cluster]
endpoints = [${list%, }]
ca_file = "$ETCD_CA"
cert_file = "$ETCD_CLIENT"
key_file = "$ETCD_CLIENT_KEY"
max_txn_ops = 4096

TOML
}
start_etcd() {
    systemctl enable etcd 2>/dev/null
    systemctl restart etcd || again "etcd did not start ('journalctl -u etcd' says why)"
}

say ""
say "Store: where this appliance keeps its keys."
say "  1) single appliance (embedded store)"
say "  2) start a new cluster (etcd beside keyward; other appliances join it later)"
say "  3) join an existing cluster (started with 2 on its first appliance)"
ask store_choice "Choice" "1"
if [[ "$store_choice" == 2 || "$store_choice" == 3 ]]; then
    node_ip_default=${address%%/*}
    [[ -n "$node_ip_default" ]] || node_ip_default=$(hostname -I 2>/dev/null | awk '{ print $1 }')
    ask etcd_name "etcd member name of this appliance" "$hostname"
    ask node_ip "IP address of this appliance (the other members reach its etcd there)" "$node_ip_default"
fi
case "$store_choice" in
2)
    say "starting a new cluster: etcd member $etcd_name on $node_ip..."
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=Keyward etcd CA ($etcd_name)" -keyout "$R$ETCD_CA_KEY" -out "$R$ETCD_CA" 2>/dev/null ||
        again "the etcd CA could not be made"
    etcd_setup "$etcd_name" "$node_ip"
    # Read by Debian's etcd.service (EnvironmentFile=); etcd takes ETCD_* variables as its flags.
    cat >"$R/etc/default/etcd" <<ENV
# Written by the Keyward first-boot dialogue: a new one-member cluster; others join it with
# 'keyward cluster join' (docs/cluster.md). Only read while the data directory is empty.
ETCD_NAME=$etcd_name
ETCD_INITIAL_CLUSTER=$etcd_name=https://$node_ip:2380
ETCD_INITIAL_CLUSTER_STATE=new
ETCD_INITIAL_CLUSTER_TOKEN=keyward-$etcd_name-$(openssl rand -hex 4)
ETCD_INITIAL_ADVERTISE_PEER_URLS=https://$node_ip:2380
ETCD_LISTEN_PEER_URLS=https://$node_ip:2380
ETCD_LISTEN_CLIENT_URLS=https://$node_ip:2379,http://127.0.0.1:2379
ETCD_ADVERTISE_CLIENT_URLS=https://$node_ip:2379
ETCD_MAX_TXN_OPS=4096
ETCD_AUTO_COMPACTION_MODE=periodic
ETCD_AUTO_COMPACTION_RETENTION=1h
ENV
    chmod 0644 "$R/etc/default/etcd"
    cluster_table "http://127.0.0.1:2379"
    start_etcd
    say "initialising the cluster (the cluster CA, the server certificate, the master key, in etcd)..."
    as_keyward keyward cluster init --config "$CONFIG" || again "keyward cluster init failed (see above)"
    # What a joining appliance needs from this one: the etcd CA, and with the local root the
    # Argon2 parameters (with the same passphrase they give the same root key).
    bundle=(-C "$R/etc/keyward" etcd-ca.pem etcd-ca.key)
    [[ -f "$DATA/root.argon2" ]] && bundle+=(-C "$DATA" root.argon2)
    tar -czf "$R/root/keyward-join.tar.gz" "${bundle[@]}" && chmod 0600 "$R/root/keyward-join.tar.gz"
    say "To join another appliance: choose 3 in its first-boot dialogue, with /root/keyward-join.tar.gz"
    say "from here copied to it (or pasted: 'base64 -w0 /root/keyward-join.tar.gz' prints it)."
    say "It holds the etcd CA key: delete it once every appliance has joined."
    ;;
3)
    say "Joining needs /root/keyward-join.tar.gz from the cluster's first appliance (its first-boot"
    say "dialogue wrote it): the etcd CA, and with the local root the Argon2 parameters, which give"
    say "the cluster's root key only with the SAME passphrase as the first appliance's (step 3)."
    ask join_bundle "Path of keyward-join.tar.gz on this appliance (empty: paste it as base64)" ""
    staging=$(mktemp -d "$R/var/tmp/keyward-join.XXXXXX")
    if [[ -z "$join_bundle" ]]; then
        say "paste the base64 text, then press Enter on an empty line:"
        while IFS= read -r line; do
            [[ -z "$line" ]] && break
            printf '%s\n' "$line" >>"$staging/bundle.b64"
        done
        join_bundle=$staging/bundle.tar.gz
        base64 -d "$staging/bundle.b64" >"$join_bundle" 2>/dev/null || again "that was not base64"
    fi
    tar -xzf "$join_bundle" -C "$staging" 2>/dev/null && [[ -f "$staging/etcd-ca.pem" && -f "$staging/etcd-ca.key" ]] ||
        again "$join_bundle is not a keyward-join.tar.gz (no etcd CA in it)"
    mv "$staging/etcd-ca.pem" "$R$ETCD_CA"
    mv "$staging/etcd-ca.key" "$R$ETCD_CA_KEY"
    ask peer "etcd client URL of a member of the cluster (https://IP:2379)" ""
    etcd_setup "$etcd_name" "$node_ip"
    cluster_table "http://127.0.0.1:2379" "$peer"
    join=(cluster join --peer "$peer" --etcd-name "$etcd_name"
        --etcd-peer-url "https://$node_ip:2380" --etcd-client-url "https://$node_ip:2379"
        --etcd-listen-client-url "https://$node_ip:2379" --etcd-listen-client-url "http://127.0.0.1:2379"
        --config "$CONFIG")
    say "adding etcd member $etcd_name to the cluster (as a learner: it gets a vote once it has caught up)..."
    # As root: /etc/default/etcd is root's, and this step writes nothing of keyward's own.
    keyward "${join[@]}" --etcd-env-out "$R/etc/default/etcd" --wait 0 || again "the etcd member could not be added"
    start_etcd
    params=()
    if [[ -f "$staging/root.argon2" ]]; then
        chown keyward "$staging" "$staging/root.argon2"
        params=(--passphrase-params "$staging/root.argon2")
    fi
    say "waiting for etcd to catch up, then joining keyward..."
    as_keyward keyward "${join[@]}" --wait 180s "${params[@]}" || again "keyward cluster join failed (see above)"
    rm -rf "$staging"
    ;;
*)
    say "initialising keyward (the appliance CA, the server certificate, the master key)..."
    as_keyward keyward init --config "$CONFIG" || again "keyward init failed (see above)"
    ;;
esac

# 5. First client
if [[ "$store_choice" == 3 ]]; then
    say ""
    say "First client: the cluster's clients are trusted on this appliance already."
else
    say ""
    say "First client (vCenter):"
    say "  1) paste the vCenter KMS client certificate (vSphere Client: Key Providers > Establish Trust > Make KMS trust vCenter > vCenter Certificate)"
    say "  2) issue a client certificate here (upload it to vCenter as 'KMS certificate and private key')"
    ask client_choice "Choice" "1"
    ask client_name "Client name" "vcenter"
    if [[ "$client_choice" == 2 ]]; then
        out=$R/root/keyward-client-$client_name
        # Issued as keyward into a directory it owns (it cannot enter /root), then handed to root.
        staging=$(mktemp -d "$R/var/tmp/keyward-issue.XXXXXX")
        chown keyward "$staging"
        if as_keyward keyward client issue --name "$client_name" --out "$staging/out" --config "$CONFIG"; then
            rm -rf "$out"
            mv "$staging/out" "$out"
            chown -R root:root "$out"
            chmod 0700 "$out"
            say "issued: $out/client.crt and $out/client.key (copy them to vCenter, then delete the key here)"
        else
            say "warning: no client issued; issue one later with 'keyward client issue'"
        fi
        rm -rf "$staging"
    else
        say "paste the PEM certificate, then press Enter on an empty line:"
        pem=$(mktemp)
        chmod 0644 "$pem"
        while IFS= read -r line; do
            [[ -z "$line" ]] && break
            printf '%s\n' "$line" >>"$pem"
        done
        as_keyward keyward client add --name "$client_name" --cert "$pem" --config "$CONFIG" ||
            say "warning: the certificate was not accepted; add it later with 'keyward client add'"
        rm -f "$pem"
    fi
fi

# 6. SSH
ssh_default=$(ovf_property keyward.ssh || true)
[[ "$ssh_default" == true ]] && ssh_default=y || ssh_default=n
ask ssh "Enable SSH (y/n)" "$ssh_default"
if [[ "$ssh" == y ]] && systemctl list-unit-files ssh.service >/dev/null 2>&1; then
    ssh-keygen -A && systemctl unmask ssh.service && systemctl enable ssh.service
fi

say ""
say "Done. KMS address for vCenter: $hostname:5696 ($(hostname -I 2>/dev/null))"
if [[ "$store_choice" == 2 || "$store_choice" == 3 ]]; then
    say "In vCenter, add every appliance of the cluster to the same key provider; 'keyward cluster status' shows the members."
fi
as_keyward keyward server cert show --config "$CONFIG" 2>/dev/null | grep -i fingerprint || true
touch "$DONE"
say "keyward starts now; 'systemctl status keyward' shows it."
exit 0
