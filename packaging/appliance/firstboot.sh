#!/bin/bash
# Keyward appliance first-boot dialogue, on the console (tty1) before any login prompt.
# Runs once (keyward-firstboot.service, until /var/lib/keyward-firstboot.done exists):
#   0. the console password of root (asked twice, strength-checked, stored only as the
#      system's SHA-512 crypt hash in /etc/shadow; every passwordless account is locked);
#   1. network: DHCP or a static address, host name;  2. NTP servers;
#   3. root key: a stored local passphrase (Argon2id; unattended restarts), IBM Key Protect
#      (API key, instance, root key), or a passphrase never stored (sealed at every boot until
#      an operator unseals it on the console);
#   4. single appliance, new cluster or join a cluster (etcd beside keyward; docs/cluster.md),
#      then keyward init / cluster init / cluster join (CA, server certificate, master key);
#   5. scheduled encrypted backups (directory, interval, passphrase);
#   6. first client: paste the vCenter certificate, or issue one (not when joining: the
#      cluster's clients are trusted already);  7. SSH: stays off unless asked for;
#   8. the console's idle lock and the login banner (KMS address and fingerprint);
#   9. the web console and HTTPS admin API ([admin_http] listen on port 8443) with a first
#      account `admin`, its password generated here and shown once, in the closing summary
#      (the console menu's "w" sets a new one).
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
password_weakness() { # password_weakness TEXT -> why it is refused (nothing when acceptable)
    local p=$1 lower=${1,,} classes=0 distinct
    if ((${#p} < 12)); then echo "it has ${#p} characters; use at least 12"; return; fi
    [[ $p =~ [a-z] ]] && classes=$((classes + 1))
    [[ $p =~ [A-Z] ]] && classes=$((classes + 1))
    [[ $p =~ [0-9] ]] && classes=$((classes + 1))
    [[ $p =~ [^a-zA-Z0-9] ]] && classes=$((classes + 1))
    if ((${#p} < 16 && classes < 3)); then
        echo "mix three of lower-case, upper-case, digits and symbols, or use 16 characters or more"
        return
    fi
    distinct=$(fold -w1 <<<"$p" | sort -u | wc -l)
    if ((distinct < 6)); then echo "it uses only $distinct different characters"; return; fi
    for word in keyward password root admin vmware "${hostname:-keyward}"; do
        if [[ -n "$word" && $lower == *"${word,,}"* ]]; then echo "it contains \"$word\""; return; fi
    done
}
ask_strong_secret() { # ask_strong_secret VAR PROMPT: asked twice, strength-checked; fails at end of input
    local a b why
    while true; do
        read -r -s -p "$2: " a || return 1
        echo
        why=$(password_weakness "$a")
        if [[ -n "$why" ]]; then say "refused: $why; once more"; continue; fi
        read -r -s -p "again: " b || return 1
        echo
        if [[ "$a" == "$b" ]]; then printf -v "$1" '%s' "$a"; return 0; fi
        say "the two differ; once more"
    done
}
set_password_hash() { # set_password_hash USER HASH: replaces USER's hash in /etc/shadow, atomically
    local shadow=$R/etc/shadow tmp
    tmp=$(mktemp "$R/etc/.keyward-shadow.XXXXXX") || return 1
    awk -F: -v OFS=: -v user="$1" -v hash="$2" -v day="$(($(date +%s) / 86400))" \
        '$1 == user { $2 = hash; $3 = day; found = 1 } { print } END { exit !found }' \
        "$shadow" >"$tmp" &&
        chmod --reference="$shadow" "$tmp" && chown --reference="$shadow" "$tmp" &&
        mv -f "$tmp" "$shadow" || { rm -f "$tmp"; return 1; }
}
lock_passwordless() { # every account left with an empty password field gets "!" (locked)
    local shadow=$R/etc/shadow tmp
    tmp=$(mktemp "$R/etc/.keyward-shadow.XXXXXX") || return 1
    awk -F: -v OFS=: '$2 == "" { $2 = "!" } { print }' "$shadow" >"$tmp" &&
        chmod --reference="$shadow" "$tmp" && chown --reference="$shadow" "$tmp" &&
        mv -f "$tmp" "$shadow" || { rm -f "$tmp"; return 1; }
}
ovf_property() { # ovf_property KEY -> value from the OVF environment, if any
    local env
    env=$(vmtoolsd --cmd "info-get guestinfo.ovfEnv" 2>/dev/null) || return 0
    sed -n "s/.*oe:key=\"$1\" oe:value=\"\([^\"]*\)\".*/\1/p" <<<"$env" | head -n1
}

say ""
say "=== Keyward appliance: first boot ==="
say "Answer each question; Enter takes the value in brackets."

# 0. Console password: whoever opens this VM's console must not hold every key by doing so.
say ""
say "Console password: root logs in on this console (and the serial console) with it; the"
say "console menu asks for it again before it opens a shell. At least 12 characters mixing"
say "three of lower-case, upper-case, digits and symbols, or 16 characters and more."
if ! ask_strong_secret console_password "Console password for root"; then
    say "no console password given: the dialogue does not finish without one; it runs again at next boot."
    exit 1
fi
hash=$(printf '%s\n' "$console_password" | openssl passwd -6 -stdin) && [[ $hash == '$6$'* ]] &&
    set_password_hash root "$hash" && lock_passwordless || {
    say "the console password could not be stored; the dialogue runs again at next boot."
    exit 1
}
unset console_password hash
say "console password set (stored only as its SHA-512 crypt hash)."

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
say "  1) local passphrase, stored (Argon2id; kept in /etc/keyward/passphrase, 0600): restarts"
say "     unattended, but whoever copies this VM's disk holds the passphrase and every key"
say "  2) IBM Key Protect customer root key (revocable from IBM Cloud)"
say "  3) local passphrase, never stored: the appliance boots SEALED (no key material served;"
say "     vCenter's key requests fail) until an operator unseals it on this console or with"
say "     'keyward unseal'. A copied disk is useless without the passphrase; every reboot needs"
say "     an operator. Single appliance only."
ask choice "Choice" "1"
sealed_at_boot=""
if [[ "$choice" == 3 ]]; then
    say "  (the passphrase is asked twice and used once, to make the master key; keep it safe:"
    say "   without it this appliance's keys are lost)"
    ask_strong_secret passphrase "Root key passphrase" || again "no root key passphrase given"
    sed -i 's|^# seal_at_start = false|seal_at_start = true|' "$CONFIG"
    grep -q '^seal_at_start = true' "$CONFIG" || again "$CONFIG has no '# seal_at_start = false' line to turn on"
    sealed_at_boot=y
elif [[ "$choice" == 2 ]]; then
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
if [[ -n "$sealed_at_boot" ]]; then
    say "(sealed at boot: a single appliance)"
    store_choice=1
else
    ask store_choice "Choice" "1"
fi
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
    if [[ -n "$sealed_at_boot" ]]; then
        printf '%s\n' "$passphrase" | as_keyward keyward init --passphrase-stdin --config "$CONFIG" ||
            again "keyward init failed (see above)"
        unset passphrase
    else
        as_keyward keyward init --config "$CONFIG" || again "keyward init failed (see above)"
    fi
    ;;
esac

# 9 (right after 4: the account lives in the data directory). The web console and HTTPS
# admin API: on in the appliance (off in the package), with a first account whose password is
# generated here, kept only as its Argon2id hash, and shown once in the closing summary. Every
# node of a cluster has its own accounts (data directory).
WEB_PORT=8443
sed -i "/^\[admin_http\]\$/,/^\[/ s|^# listen = \"127.0.0.1:8443\"|listen = \"0.0.0.0:$WEB_PORT\"|" "$CONFIG"
grep -q "^listen = \"0.0.0.0:$WEB_PORT\"" "$CONFIG" || again "$CONFIG has no '# listen = \"127.0.0.1:8443\"' line under [admin_http] to turn on"
web_password=$(openssl rand -base64 30 | tr -dc 'A-Za-z0-9' | cut -c1-20)
[[ ${#web_password} -eq 20 ]] || again "no random password for the web console"
if ! printf '%s\n' "$web_password" |
    as_keyward keyward admin-user add admin --role admin --password-stdin --config "$CONFIG"; then
    # A dialogue run again after a later step failed: the account is there already.
    printf '%s\n' "$web_password" |
        as_keyward keyward admin-user passwd admin --password-stdin --config "$CONFIG" ||
        again "the web console's account could not be made"
fi

# 5. Scheduled encrypted backups, written by the server itself.
say ""
say "Scheduled encrypted backups (every key, the client registry and the audit log, under a"
say "backup passphrase of their own; copy them off the appliance, e.g. to a mounted share)."
if [[ -n "$sealed_at_boot" ]]; then
    say "  Note: the backup passphrase is kept on this appliance for the schedule: with a sealed"
    say "  root, a copy of the disk then opens the backups written to it. Use a directory on"
    say "  other storage, or answer n and take backups from the console menu."
    backup_default=n
else
    backup_default=y
fi
ask backups "Scheduled backups (y/n)" "$backup_default"
if [[ "$backups" == y ]]; then
    ask backup_dir "Backup directory" "/var/backups/keyward"
    ask backup_interval "Interval (e.g. 24h, 12h, 7d)" "24h"
    ask backup_keep "How many to keep" "7"
    ask_strong_secret backup_pass "Backup passphrase (different from the others)" || again "no backup passphrase given"
    mkdir -p "$R$backup_dir"
    chown keyward:keyward "$R$backup_dir"
    chmod 0700 "$R$backup_dir"
    printf '%s\n' "$backup_pass" >"$R/etc/keyward/backup.pass"
    unset backup_pass
    chown keyward:keyward "$R/etc/keyward/backup.pass"
    chmod 0600 "$R/etc/keyward/backup.pass"
    sed -i '/^# Written by the first-boot dialogue: backup$/,/^$/d' "$CONFIG"
    cat >>"$CONFIG" <<TOML

# Written by the first-boot dialogue: backup
[backup]
dir = "$backup_dir"
interval = "$backup_interval"
keep = $backup_keep
passphrase_file = "/etc/keyward/backup.pass"
with_audit = true

TOML
    # The unit's file system is read-only but for its state directory.
    mkdir -p "$R/etc/systemd/system/keyward.service.d"
    printf '# Written by the Keyward first-boot dialogue: scheduled backups.\n[Service]\nReadWritePaths=%s\n' \
        "$backup_dir" >"$R/etc/systemd/system/keyward.service.d/backup.conf"
    chmod 0644 "$R/etc/systemd/system/keyward.service.d/backup.conf"
    say "backups every $backup_interval into $backup_dir (the newest $backup_keep kept)."
fi

# 6. First client
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
            # Printed for copy and paste into vCenter (SSH is off): the key is not kept here.
            say ""
            say "WARNING: the PRIVATE KEY of client '$client_name' follows. Whoever sees it can act as"
            say "this vCenter towards the KMS. Paste certificate and key into vSphere Client: Key"
            say "Providers > this KMS > Make KMS trust vCenter > KMS certificate and private key."
            cat "$staging/out/client.crt" "$staging/out/client.key"
            read -r -p "Press Enter once both are copied (the key is then deleted): " _ || true
            rm -rf "$out"
            mkdir -p "$out"
            mv "$staging/out/client.crt" "$staging/out/ca.crt" "$out/"
            shred -u "$staging/out/client.key" 2>/dev/null || rm -f "$staging/out/client.key"
            chown -R root:root "$out"
            chmod 0700 "$out"
            say "the key is deleted; $out keeps client.crt and ca.crt. The console menu issues another if needed."
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

# 7. SSH
ssh_default=$(ovf_property keyward.ssh || true)
[[ "$ssh_default" == true ]] && ssh_default=y || ssh_default=n
ask ssh "Enable SSH (y/n)" "$ssh_default"
if [[ "$ssh" == y ]] && systemctl list-unit-files ssh.service >/dev/null 2>&1; then
    ssh-keygen -A && systemctl unmask ssh.service && systemctl enable ssh.service
fi

# 8. The console: locked (logged out) after idle time; the banner says what this is.
ask idle_minutes "Console idle lock after how many minutes (5-60)" "10"
[[ "$idle_minutes" =~ ^[0-9]+$ ]] && ((idle_minutes >= 5 && idle_minutes <= 60)) || idle_minutes=10
mkdir -p "$R/etc/profile.d"
cat >"$R/etc/profile.d/keyward-idle.sh" <<SH
# Written by the Keyward first-boot dialogue: an idle console shell (and the console menu)
# logs out after $idle_minutes minutes, back to the login prompt and its password.
TMOUT=$((idle_minutes * 60))
readonly TMOUT
export TMOUT
SH
chmod 0644 "$R/etc/profile.d/keyward-idle.sh"
fingerprint=$(as_keyward keyward server cert show --config "$CONFIG" 2>/dev/null | sed -n 's/^SHA-256 fingerprint: //p')
# agetty expands \n (host name) and \4 (IPv4 address) when it shows the banner.
{
    echo "Keyward KMS appliance \\n"
    echo "  KMIP (vCenter key provider): $hostname:5696 (\\4)"
    echo "  server certificate SHA-256: ${fingerprint:-unknown (keyward server cert show)}"
    echo "  web console and admin API: https://\\4:$WEB_PORT/"
    echo "  Authorised administrators only; console actions are recorded in the audit log."
    echo ""
} >"$R/etc/issue"
chmod 0644 "$R/etc/issue"

say ""
say "Done. KMS address for vCenter: $hostname:5696 ($(hostname -I 2>/dev/null))"
if [[ "$store_choice" == 2 || "$store_choice" == 3 ]]; then
    say "In vCenter, add every appliance of the cluster to the same key provider; 'keyward cluster status' shows the members."
fi
[[ -n "$fingerprint" ]] && say "server certificate SHA-256 fingerprint: $fingerprint"
say ""
say "Web console and HTTPS admin API: https://$hostname:$WEB_PORT/ (or the address above)"
say "  user: admin   password: $web_password"
say "  The password is shown only now and kept only as its hash: note it, then log in (the"
say "  browser asks to accept the appliance's own CA). The console menu (w) sets a new one."
unset web_password
if [[ -n "$sealed_at_boot" ]]; then
    say "keyward starts SEALED: log in as root and choose 'Unseal' in the console menu."
fi
touch "$DONE"
say "keyward starts now; 'systemctl status keyward' shows it."
# The login prompt clears the console when it starts: the summary above stays until Enter.
read -r -p "Press Enter for the login prompt: " _ || true
exit 0
