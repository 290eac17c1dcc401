//! The etcd half of `keyward cluster join`: add this node's etcd member to the running etcd
//! cluster, say what the member must be started with (the ETCD_* variables etcd reads as its
//! flags, in the form of Debian's /etc/default/etcd), then wait for it to start and promote it.
//!
//! The member is added as a **learner**. A learner receives the log but does not vote, so
//! adding it does not change the quorum: a one-member cluster that gained a voter which never
//! starts (wrong address, etcd not restarted yet, firewall) would have no quorum (1 of 2) and
//! every Keyward node would go degraded until someone removed it. The learner is promoted
//! only once it has started and caught up with the leader (etcd refuses the promotion before
//! that), so the new voter never stalls the cluster while it copies the log either.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;

use keyward::store::etcd::gateway::{Gateway, GatewayError, Member};

use crate::cli::error::{CliError, Context};

#[derive(Args, Default)]
pub struct EtcdMemberArgs {
    /// Name of this node's etcd member (ETCD_NAME). With it, `join` adds the member to the
    /// etcd cluster first; without it, the member must already belong to the cluster.
    #[arg(
        long,
        value_name = "NAME",
        requires = "etcd_peer_url",
        requires = "etcd_client_url"
    )]
    pub etcd_name: Option<String>,
    /// Peer URL the new member advertises to the others (https://IP:2380).
    #[arg(long, value_name = "URL", requires = "etcd_name")]
    pub etcd_peer_url: Vec<String>,
    /// Client URL the new member advertises (https://IP:2379).
    #[arg(long, value_name = "URL", requires = "etcd_name")]
    pub etcd_client_url: Vec<String>,
    /// Where the member listens for peers, if not its peer URLs (e.g. a host name is advertised).
    #[arg(long, value_name = "URL", requires = "etcd_name")]
    pub etcd_listen_peer_url: Vec<String>,
    /// Where the member listens for clients, if not its client URLs (add http://127.0.0.1:2379
    /// for this node's own Keyward).
    #[arg(long, value_name = "URL", requires = "etcd_name")]
    pub etcd_listen_client_url: Vec<String>,
    /// Also write the settings to this file (mode 0644), e.g. /etc/default/etcd, which
    /// Debian's etcd.service reads.
    #[arg(long, value_name = "FILE", requires = "etcd_name")]
    pub etcd_env_out: Option<PathBuf>,
    /// How long to wait for the new member to start and catch up ("90s", "2m"). "0": add the
    /// member, write the settings and stop; run the same command again once etcd runs.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = keyward::duration::parse)]
    pub wait: Duration,
}

/// The member `wanted` names: its name, its hex ID or one of its peer URLs.
pub fn find<'a>(members: &'a [Member], wanted: &str) -> Option<&'a Member> {
    let wanted_url = wanted.trim_end_matches('/');
    let id = u64::from_str_radix(wanted, 16).ok();
    members.iter().find(|m| {
        (m.is_started() && m.name == wanted)
            || Some(m.id) == id
            || m.peer_urls
                .iter()
                .any(|u| u.trim_end_matches('/') == wanted_url)
    })
}

pub fn describe(m: &Member) -> String {
    let name = if m.is_started() {
        m.name.as_str()
    } else {
        "(unstarted)"
    };
    let role = if m.is_learner { ", learner" } else { "" };
    format!(
        "etcd member {name} ({:016x}, peer {}{role})",
        m.id,
        m.peer_urls.join(",")
    )
}

/// A name or URL goes unquoted into a file systemd and sh both read: nothing either would
/// interpret may be in it.
fn check_plain(what: &str, value: &str) -> Result<(), CliError> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:/[]@%+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "{what} \"{value}\" is empty or has characters other than letters, digits and -._:/[]@%+"
        )))
    }
}

fn check_url(what: &str, url: &str) -> Result<(), CliError> {
    check_plain(what, url)?;
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            CliError::Failed(format!(
                "{what} \"{url}\" must start with https:// or http://"
            ))
        })?;
    if !rest.contains(':') || rest.contains('@') {
        return Err(CliError::Failed(format!(
            "{what} \"{url}\" must be scheme://host:port, without user or path"
        )));
    }
    Ok(())
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// This member in `members`: the one with any of our peer URLs.
fn ours<'a>(members: &'a [Member], peer_urls: &[String]) -> Option<&'a Member> {
    members.iter().find(|m| {
        m.peer_urls
            .iter()
            .any(|u| peer_urls.iter().any(|p| same_url(u, p)))
    })
}

fn gateway_refusal_mentions(err: &GatewayError, words: &str) -> bool {
    matches!(err, GatewayError::Refused(text) if text.contains(words))
}

/// Adds (or finds) this node's member, prints and writes its settings, and waits for it.
/// `Ok(false)`: nothing to wait for was asked (--wait 0); the Keyward part is not done yet.
pub fn join(
    gateway: &Gateway,
    name: &str,
    args: &EtcdMemberArgs,
    max_txn_ops: usize,
) -> Result<bool, CliError> {
    check_plain("--etcd-name", name)?;
    for (what, urls) in [
        ("--etcd-peer-url", &args.etcd_peer_url),
        ("--etcd-client-url", &args.etcd_client_url),
        ("--etcd-listen-peer-url", &args.etcd_listen_peer_url),
        ("--etcd-listen-client-url", &args.etcd_listen_client_url),
    ] {
        for url in urls {
            check_url(what, url)?;
        }
    }
    let member = add_once(gateway, name, &args.etcd_peer_url)?;
    let list = gateway
        .member_list()
        .context("cannot list the etcd members")?;
    let env = environment(name, member.id, &list.members, args, max_txn_ops)?;
    println!("etcd member {name} must start with these settings (empty data directory):");
    print!("{env}");
    if let Some(path) = &args.etcd_env_out {
        write_env(path, &env)?;
        println!("written to {}", path.display());
    }
    if args.wait.is_zero() {
        println!(
            "start etcd with them (systemd: `systemctl restart etcd`), then run this command \
             again to finish the join"
        );
        return Ok(false);
    }
    wait_and_promote(gateway, name, member.id, args)?;
    Ok(true)
}

/// MemberAdd as a learner, unless a member with our peer URL exists already.
fn add_once(gateway: &Gateway, name: &str, peer_urls: &[String]) -> Result<Member, CliError> {
    let list = gateway
        .member_list()
        .context("cannot list the etcd members")?;
    if let Some(existing) = ours(&list.members, peer_urls) {
        if existing.is_started() && existing.name != name {
            return Err(CliError::Failed(format!(
                "peer URL {} belongs to {}, not to \"{name}\": check --etcd-name and \
                 --etcd-peer-url",
                peer_urls.join(","),
                describe(existing)
            )));
        }
        println!(
            "{} is already in the etcd cluster; not adding it again",
            describe(existing)
        );
        return Ok(existing.clone());
    }
    if let Some(clash) = list.members.iter().find(|m| m.name == name) {
        return Err(CliError::Failed(format!(
            "the etcd cluster already has a member named \"{name}\" ({}); choose another \
             --etcd-name or remove that member first (`keyward cluster remove-member`)",
            describe(clash)
        )));
    }
    // etcd lets a new member start only with the names of all the others; an unstarted one
    // has none yet. etcd also allows one learner at a time. Both mean another join is half
    // done: let it finish, or remove it.
    if let Some(pending) = list
        .members
        .iter()
        .find(|m| !m.is_started() || m.is_learner)
    {
        return Err(CliError::Failed(format!(
            "{} has not finished joining; start it (and run its `keyward cluster join` again) \
             or remove it with `keyward cluster remove-member {:016x}` before adding another",
            describe(pending),
            pending.id
        )));
    }
    match add_when_healthy(gateway, peer_urls) {
        Ok(answer) => {
            println!("added {}", describe(&answer.member));
            Ok(answer.member)
        }
        // A failover after a timeout may have added it on the first try.
        Err(e) if gateway_refusal_mentions(&e, "already exists") => {
            let list = gateway
                .member_list()
                .context("cannot list the etcd members")?;
            match ours(&list.members, peer_urls) {
                Some(member) => Ok(member.clone()),
                None => Err(e).with_context(|| {
                    format!(
                        "etcd says peer URL {} exists, yet lists no member with it",
                        peer_urls.join(",")
                    )
                }),
            }
        }
        Err(e) if e.to_string().contains("unhealthy cluster") => Err(CliError::Failed(format!(
            "etcd did not add the member {name}: {e}. It still refused after {} s: a voting \
             member is not connected to the others (`keyward cluster status` shows which); start \
             it, or remove it with `keyward cluster remove-member`, then run this command again",
            UNHEALTHY_WAIT.as_secs()
        ))),
        Err(e) => Err(CliError::Failed(format!(
            "etcd did not add the member {name}: {e}"
        ))),
    }
}

/// How long a join waits for etcd to accept a new member after "unhealthy cluster".
const UNHEALTHY_WAIT: Duration = Duration::from_secs(30);

/// MemberAdd, retried for up to [`UNHEALTHY_WAIT`] while etcd answers "unhealthy cluster": etcd
/// accepts a new member only once every voting member has been connected to the leader for
/// 5 s, so right after the previous join promoted its member it refuses for a few seconds.
fn add_when_healthy(
    gateway: &Gateway,
    peer_urls: &[String],
) -> Result<keyward::store::etcd::gateway::MemberAddResponse, GatewayError> {
    let deadline = Instant::now() + UNHEALTHY_WAIT;
    let mut said = false;
    loop {
        match gateway.member_add(peer_urls, true) {
            // etcd sends it with gRPC code 14 (unavailable), so the gateway may report it as
            // either kind of failure.
            Err(e) if e.to_string().contains("unhealthy cluster") => {
                if Instant::now() >= deadline {
                    return Err(e);
                }
                if !said {
                    println!(
                        "etcd answers \"unhealthy cluster\": it adds a member only once every \
                         voting member has been connected for 5 s (one was just promoted or \
                         restarted); waiting up to {} s for that...",
                        UNHEALTHY_WAIT.as_secs()
                    );
                    said = true;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            other => {
                if said && other.is_ok() {
                    println!("etcd accepts new members again");
                }
                return other;
            }
        }
    }
}

/// The ETCD_* settings, one `NAME=value` a line, unquoted (checked by [`check_plain`]).
fn environment(
    name: &str,
    id: u64,
    members: &[Member],
    args: &EtcdMemberArgs,
    max_txn_ops: usize,
) -> Result<String, CliError> {
    let mut initial = Vec::new();
    for m in members {
        let member_name = if m.id == id {
            name
        } else if m.is_started() {
            m.name.as_str()
        } else {
            return Err(CliError::Failed(format!(
                "{} has not started: etcd cannot be given the cluster's membership until it \
                 has (or is removed)",
                describe(m)
            )));
        };
        check_plain("member name", member_name)?;
        for url in &m.peer_urls {
            check_plain("peer URL", url)?;
            initial.push(format!("{member_name}={url}"));
        }
    }
    // etcd lists members by ID, which is random: sorted, the same membership always gives
    // the same file.
    initial.sort();
    let or = |listen: &[String], advertised: &[String]| -> String {
        if listen.is_empty() {
            advertised.join(",")
        } else {
            listen.join(",")
        }
    };
    let lines = [
        ("ETCD_NAME", name.to_string()),
        ("ETCD_INITIAL_CLUSTER", initial.join(",")),
        ("ETCD_INITIAL_CLUSTER_STATE", "existing".into()),
        (
            "ETCD_INITIAL_ADVERTISE_PEER_URLS",
            args.etcd_peer_url.join(","),
        ),
        (
            "ETCD_LISTEN_PEER_URLS",
            or(&args.etcd_listen_peer_url, &args.etcd_peer_url),
        ),
        (
            "ETCD_LISTEN_CLIENT_URLS",
            or(&args.etcd_listen_client_url, &args.etcd_client_url),
        ),
        ("ETCD_ADVERTISE_CLIENT_URLS", args.etcd_client_url.join(",")),
        // Keyward commits a group as one transaction: see docs/cluster.md, "Transaction size".
        ("ETCD_MAX_TXN_OPS", max_txn_ops.to_string()),
        // etcd keeps every revision of every key until it is compacted; without this its
        // database grows with each change until it hits its quota and refuses all writes.
        ("ETCD_AUTO_COMPACTION_MODE", "periodic".to_string()),
        ("ETCD_AUTO_COMPACTION_RETENTION", "1h".to_string()),
    ];
    let mut text = String::new();
    for (key, value) in lines {
        if value.is_empty() {
            return Err(CliError::Failed(format!(
                "{key} would be empty: give --etcd-peer-url and --etcd-client-url"
            )));
        }
        text.push_str(&format!("{key}={value}\n"));
    }
    Ok(text)
}

/// Written whole or not at all (a temp file renamed over the target): etcd or a script
/// watching for the file never reads half of it.
fn write_env(path: &Path, env: &str) -> Result<(), CliError> {
    let file_name = path.file_name().ok_or_else(|| {
        CliError::Failed(format!("--etcd-env-out {} names no file", path.display()))
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(".keyward-tmp");
    let temp = path.with_file_name(temp_name);
    let header = "# etcd member settings written by `keyward cluster join`; etcd reads ETCD_* \
                  variables as its flags\n# (Debian's etcd.service loads this file with \
                  EnvironmentFile=). Only read on an empty data directory.\n";
    let result = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&temp)
        .and_then(|mut f| {
            f.write_all(header.as_bytes())?;
            f.write_all(env.as_bytes())?;
            // The mode given at creation is reduced by the umask; the file is meant for etcd's
            // own user, whatever the caller's umask.
            f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
            f.sync_all()
        })
        .and_then(|_| fs::rename(&temp, path));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

/// Polls until the member has started and, once it has caught up, promotes it to a voter.
fn wait_and_promote(
    gateway: &Gateway,
    name: &str,
    id: u64,
    args: &EtcdMemberArgs,
) -> Result<(), CliError> {
    println!(
        "waiting up to {} s for etcd member {name} to start and catch up...",
        args.wait.as_secs()
    );
    let deadline = Instant::now() + args.wait;
    loop {
        let last = match gateway.member_list() {
            Ok(list) => match list.members.iter().find(|m| m.id == id) {
                None => {
                    return Err(CliError::Failed(format!(
                        "etcd member {name} ({id:016x}) was removed from the cluster while \
                         this node was joining; run the join again"
                    )));
                }
                Some(m) if !m.is_started() => {
                    "it has not started (is etcd running with the settings above?)".to_string()
                }
                Some(m) if !m.is_learner => {
                    println!("etcd member {name} is started and voting");
                    return Ok(());
                }
                Some(_) => match gateway.member_promote(id) {
                    Ok(_) => {
                        println!("etcd member {name} caught up and was promoted to a voter");
                        return Ok(());
                    }
                    Err(e) => format!("it has not caught up with the leader yet ({e})"),
                },
            },
            Err(e) => format!("the cluster cannot list its members ({e})"),
        };
        if Instant::now() >= deadline {
            return Err(CliError::Failed(format!(
                "etcd member {name} is not ready after {} s: {last}. Start etcd with the \
                 settings above (systemd: `systemctl restart etcd`), then run this command \
                 again; it does not add the member twice",
                args.wait.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, name: &str, peer: &str, learner: bool) -> Member {
        Member {
            id,
            name: name.into(),
            client_urls: vec![],
            peer_urls: vec![peer.into()],
            is_learner: learner,
        }
    }

    fn args(peer: &str, client: &str) -> EtcdMemberArgs {
        EtcdMemberArgs {
            etcd_name: Some("kms2".into()),
            etcd_peer_url: vec![peer.into()],
            etcd_client_url: vec![client.into()],
            wait: Duration::from_secs(60),
            ..EtcdMemberArgs::default()
        }
    }

    #[test]
    fn the_environment_lists_every_member_and_this_one_by_its_new_name() {
        let members = [
            member(1, "kms1", "https://10.0.0.11:2380", false),
            member(2, "", "https://10.0.0.12:2380", true),
        ];
        let mut a = args("https://10.0.0.12:2380", "https://10.0.0.12:2379");
        a.etcd_listen_client_url = vec![
            "https://10.0.0.12:2379".into(),
            "http://127.0.0.1:2379".into(),
        ];
        let env = environment("kms2", 2, &members, &a, 4096).unwrap();
        assert_eq!(
            env,
            "ETCD_NAME=kms2\n\
             ETCD_INITIAL_CLUSTER=kms1=https://10.0.0.11:2380,kms2=https://10.0.0.12:2380\n\
             ETCD_INITIAL_CLUSTER_STATE=existing\n\
             ETCD_INITIAL_ADVERTISE_PEER_URLS=https://10.0.0.12:2380\n\
             ETCD_LISTEN_PEER_URLS=https://10.0.0.12:2380\n\
             ETCD_LISTEN_CLIENT_URLS=https://10.0.0.12:2379,http://127.0.0.1:2379\n\
             ETCD_ADVERTISE_CLIENT_URLS=https://10.0.0.12:2379\n\
             ETCD_MAX_TXN_OPS=4096\n\
             ETCD_AUTO_COMPACTION_MODE=periodic\n\
             ETCD_AUTO_COMPACTION_RETENTION=1h\n"
        );
        // Another member that never started has no name etcd could be given.
        let pending = [
            member(1, "kms1", "https://10.0.0.11:2380", false),
            member(3, "", "https://10.0.0.13:2380", true),
            member(2, "", "https://10.0.0.12:2380", true),
        ];
        assert!(environment("kms2", 2, &pending, &a, 4096).is_err());
    }

    #[test]
    fn names_and_urls_that_a_shell_or_systemd_would_interpret_are_refused() {
        assert!(check_plain("n", "kms-2.a").is_ok());
        for bad in ["", "a b", "a$b", "a\"b", "a;b", "a\nb", "a`b"] {
            assert!(check_plain("n", bad).is_err(), "{bad:?}");
        }
        assert!(check_url("u", "https://10.0.0.1:2380").is_ok());
        assert!(check_url("u", "10.0.0.1:2380").is_err());
        assert!(check_url("u", "https://10.0.0.1").is_err());
        assert!(check_url("u", "https://user@10.0.0.1:2380").is_err());
    }

    #[test]
    fn members_are_found_by_name_hex_id_or_peer_url_but_unstarted_ones_not_by_empty_name() {
        let members = [
            member(0xab, "kms1", "https://10.0.0.11:2380", false),
            member(0xcd, "", "https://10.0.0.12:2380", true),
        ];
        assert_eq!(find(&members, "kms1").map(|m| m.id), Some(0xab));
        assert_eq!(find(&members, "00000000000000cd").map(|m| m.id), Some(0xcd));
        assert_eq!(
            find(&members, "https://10.0.0.12:2380/").map(|m| m.id),
            Some(0xcd)
        );
        assert!(find(&members, "").is_none());
        assert!(find(&members, "kms9").is_none());
    }

    #[test]
    fn waits_parse_seconds_and_minutes_and_zero() {
        let parse_wait = keyward::duration::parse;
        assert_eq!(parse_wait("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_wait("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_wait("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_wait("soon").is_err());
        assert_eq!(parse_wait("1h").unwrap(), Duration::from_secs(3600));
    }
}
