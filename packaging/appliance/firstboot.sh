#!/bin/bash
# Keyward appliance first-boot dialogue, on the console (tty1) before any login prompt.
# Runs once (keyward-firstboot.service, until /var/lib/keyward-firstboot.done exists):
#   1. network: DHCP or a static address, host name;  2. NTP servers;
#   3. root key: a local passphrase (Argon2id) or IBM Key Protect (API key, instance, root key);
#   4. keyward init (CA, server certificate, master key);  5. first client: paste the vCenter certificate, or issue one;
#   6. SSH: stays off unless asked for.
# Defaults come from the OVF properties (vApp options) when VMware Tools provides them.
set -uo pipefail
umask 077

CONFIG=/etc/keyward/config.toml
DATA=/var/lib/keyward
DONE=/var/lib/keyward-firstboot.done

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
} >/etc/network/interfaces.d/keyward
chmod 0644 /etc/network/interfaces.d/keyward
if [[ -n "$address" && -n "${dns:-}" ]]; then
    printf 'nameserver %s\n' $dns >/etc/resolv.conf
    chmod 0644 /etc/resolv.conf
fi
echo "$hostname" >/etc/hostname
chmod 0644 /etc/hostname
hostname "$hostname"
sed -i "s/^127.0.1.1.*/127.0.1.1\t$hostname/" /etc/hosts
ifdown "$nic" 2>/dev/null; ifup "$nic" || say "warning: $nic did not come up; check the answers with 'ip addr'"

# 2. NTP
ask ntp "NTP servers (space-separated; empty: Debian's pool)" "$(ovf_property keyward.ntp || true)"
mkdir -p /etc/systemd/timesyncd.conf.d
if [[ -n "$ntp" ]]; then
    printf '[Time]\nNTP=%s\n' "$ntp" >/etc/systemd/timesyncd.conf.d/keyward.conf
    chmod 0644 /etc/systemd/timesyncd.conf.d/keyward.conf
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
    printf '%s\n' "$api_key" >/etc/keyward/keyprotect.apikey
    unset api_key
    chown keyward:keyward /etc/keyward/keyprotect.apikey
    chmod 0600 /etc/keyward/keyprotect.apikey
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
    ask_secret passphrase "Root key passphrase"
    printf '%s\n' "$passphrase" >/etc/keyward/passphrase
    unset passphrase
    chown keyward:keyward /etc/keyward/passphrase
    chmod 0600 /etc/keyward/passphrase
    sed -i 's|^# passphrase_file = "/etc/keyward/passphrase"|passphrase_file = "/etc/keyward/passphrase"|' "$CONFIG"
fi

# 4. Initialise (as the service user, so every file it makes belongs to it). keyward.service
# itself waits for this dialogue to finish (Before=) and starts only once it succeeded.
as_keyward() { runuser -u keyward -- "$@"; }
say "initialising keyward (the appliance CA, the server certificate, the master key)..."
if ! as_keyward keyward init --config "$CONFIG"; then
    say "keyward init failed (see above); the dialogue runs again at next boot."
    exit 1
fi

# 5. First client
say ""
say "First client (vCenter):"
say "  1) paste the vCenter KMS client certificate (vSphere Client: Key Providers > Establish Trust > Make KMS trust vCenter > vCenter Certificate)"
say "  2) issue a client certificate here (upload it to vCenter as 'KMS certificate and private key')"
ask client_choice "Choice" "1"
ask client_name "Client name" "vcenter"
if [[ "$client_choice" == 2 ]]; then
    out=/root/keyward-client-$client_name
    # Issued as keyward into a directory it owns (it cannot enter /root), then handed to root.
    staging=$(mktemp -d /var/tmp/keyward-issue.XXXXXX)
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

# 6. SSH
ssh_default=$(ovf_property keyward.ssh || true)
[[ "$ssh_default" == true ]] && ssh_default=y || ssh_default=n
ask ssh "Enable SSH (y/n)" "$ssh_default"
if [[ "$ssh" == y ]] && systemctl list-unit-files ssh.service >/dev/null 2>&1; then
    ssh-keygen -A && systemctl unmask ssh.service && systemctl enable ssh.service
fi

say ""
say "Done. KMS address for vCenter: $hostname:5696 ($(hostname -I 2>/dev/null))"
as_keyward keyward server cert show --config "$CONFIG" 2>/dev/null | grep -i fingerprint || true
touch "$DONE"
say "keyward starts now; 'systemctl status keyward' shows it."
exit 0
