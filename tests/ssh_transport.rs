//! The SSH transport against a real OpenSSH sshd on 127.0.0.1 (see common/sshd.rs): host key
//! verification, authentication sources, ssh_config, jump hosts, and command execution.
//! Hermetic: every key, known_hosts, ssh_config and agent lives in a temporary directory.

mod common;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::sshd::{Sshd, current_user, fingerprint, keygen, public_of};
use wgdeploy::transport::Transport;
use wgdeploy::transport::ssh::{SshError, SshOptions, SshSession, SshTarget};

/// Every test is bounded: a hang is a failure, not a stuck CI run.
async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .expect("test took more than 60s")
}

fn options(known_hosts: &Path) -> SshOptions {
    SshOptions {
        known_hosts: known_hosts.to_path_buf(),
        accept_new: false,
        connect_timeout: Duration::from_secs(10),
        config_file: None,
        agent_socket: None,
        default_identities: Vec::new(),
        default_user: current_user(),
    }
}

fn target(sshd: &Sshd, identity: Option<&Path>) -> SshTarget {
    SshTarget {
        label: "web1".to_string(),
        host: "127.0.0.1".to_string(),
        port: Some(sshd.port),
        user: None,
        identity: identity.map(Path::to_path_buf),
        jump: None,
    }
}

/// A client key, a server accepting it, and a known_hosts file that knows the server.
struct Setup {
    dir: tempfile::TempDir,
    key: PathBuf,
    sshd: Sshd,
    known_hosts: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = keygen(dir.path(), "id_ed25519", "ed25519", "");
    let sshd = Sshd::start(&[&public_of(&key)]);
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&known_hosts, sshd.known_hosts_line()).expect("write known_hosts");
    Setup {
        dir,
        key,
        sshd,
        known_hosts,
    }
}

impl Setup {
    async fn connect(&self) -> Result<SshSession, SshError> {
        SshSession::connect(
            &target(&self.sshd, Some(&self.key)),
            &options(&self.known_hosts),
        )
        .await
    }
}

/// A megabyte that is not all the same byte, so a reordered or dropped packet shows.
fn megabyte() -> Vec<u8> {
    (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_commands_with_exact_output_status_and_stdin() {
    let s = setup();
    within(async {
        let session = s.connect().await.expect("connect");
        let output = session
            .run("echo hi; echo err >&2; exit 3", b"")
            .await
            .expect("run");
        assert_eq!(output.stdout, b"hi\n");
        assert_eq!(output.stderr, b"err\n");
        assert_eq!(output.status, Some(3));

        // Second run on the same session; 1 MiB is several times the channel window.
        let data = megabyte();
        let output = session.run("cat", &data).await.expect("run cat");
        assert_eq!(output.status, Some(0));
        assert!(
            output.stdout == data,
            "cat did not echo the megabyte exactly"
        );
        assert!(
            output.stderr.is_empty(),
            "stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        );

        let output = session.run("wc -c", b"").await.expect("run wc");
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "0");
        session.close().await;
    })
    .await;
}

/// `open_ahead`: the next run opens a second channel with its own, and the run after it uses that
/// one (stdin and all). `WGDEPLOY_STATS`' counts (nextest runs each test in its own process, so the
/// counters are this test's alone): 4 turns to connect (the first command's channel is opened with
/// the authentication), then per run its channel (none for one opened ahead or with the
/// authentication), its stdin, its answer: 4 + 1 + 2 + 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_opened_ahead_serves_the_next_run_and_turns_are_counted() {
    wgdeploy::transport::stats::enable();
    let s = setup();
    within(async {
        let session = s.connect().await.expect("connect");
        session.open_ahead();
        let first = session.run("echo one", b"").await.expect("run");
        assert_eq!(first.stdout, b"one\n");
        let data = megabyte();
        let second = session.run("cat", &data).await.expect("run cat");
        assert!(second.stdout == data, "cat on the channel opened ahead");
        let third = session.run("echo three", b"").await.expect("run");
        assert_eq!(third.stdout, b"three\n");
        session.close().await;
    })
    .await;
    let counts = wgdeploy::transport::stats::render();
    assert!(counts.contains("web1\t1\t3\t9\n"), "{counts}");
}

/// `run_until`: a command stops at its marker (even split across packets) with the output before
/// it, then takes its stdin (a line and a megabyte after it) and finishes on the same channel,
/// one turn; dropped unused, its stdin ends empty and the command ends; a command that never
/// prints the marker is simply complete. Counts: 4 turns to connect (with the first command's
/// channel), the first command's answer (1), its stdin and answer (1), the second command's answer
/// (1; its channel was opened ahead with the first's), the third's channel and answer (2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_waits_at_its_marker_for_its_input() {
    wgdeploy::transport::stats::enable();
    let s = setup();
    let dropped = s.dir.path().join("dropped");
    within(async {
        let session = s.connect().await.expect("connect");
        session.open_ahead();
        let waiting = "echo before; echo err >&2; printf '@@rea'; sleep 0.2; printf 'dy n1\\n'; \
                       IFS= read -r line; echo \"got $line\"; wc -c; exit 4";
        let (before, pending) = session
            .run_until(waiting, b"@@ready n1\n")
            .await
            .expect("supported")
            .expect("run");
        assert_eq!(before.stdout, b"before\n");
        assert_eq!(before.status, None, "still running");
        let mut input = b"the step\n".to_vec();
        input.extend(megabyte());
        let rest = pending
            .expect("waiting")
            .finish(input)
            .await
            .expect("finish");
        assert_eq!(
            String::from_utf8_lossy(&rest.stdout),
            "got the step\n1048576\n"
        );
        assert_eq!(rest.status, Some(4));

        let ending = format!(
            "printf '@@ready n2\\n'; if IFS= read -r line; then echo more; else echo eof > {}; fi",
            dropped.display()
        );
        let (_, pending) = session
            .run_until(&ending, b"@@ready n2\n")
            .await
            .expect("supported")
            .expect("run");
        drop(pending.expect("waiting"));
        let start = std::time::Instant::now();
        while !dropped.exists() && start.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            std::fs::read(&dropped).expect("the command ended"),
            b"eof\n"
        );

        let (complete, pending) = session
            .run_until("echo done; exit 2", b"@@ready n3\n")
            .await
            .expect("supported")
            .expect("run");
        assert!(pending.is_none());
        assert_eq!(complete.stdout, b"done\n");
        assert_eq!(complete.status, Some(2));
        session.close().await;
    })
    .await;
    let counts = wgdeploy::transport::stats::render();
    assert!(counts.contains("web1\t1\t3\t9\n"), "{counts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_share_one_session() {
    let s = setup();
    within(async {
        let session = Arc::new(s.connect().await.expect("connect"));
        // More than sshd's default MaxSessions (10): the extra ones must wait, not fail.
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..14 {
            let session = Arc::clone(&session);
            tasks.spawn(async move {
                let input = format!("input {n}\n");
                let output = session
                    .run(&format!("sleep 0.2; echo {n}; cat"), input.as_bytes())
                    .await
                    .expect("run");
                (n, output)
            });
        }
        let mut seen = 0;
        while let Some(joined) = tasks.join_next().await {
            let (n, output) = joined.expect("task");
            assert_eq!(output.status, Some(0), "run {n}: {output:?}");
            assert_eq!(
                String::from_utf8_lossy(&output.stdout),
                format!("{n}\ninput {n}\n")
            );
            seen += 1;
        }
        assert_eq!(seen, 14);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_that_ignore_stdin_or_die_do_not_hang() {
    let s = setup();
    within(async {
        let session = s.connect().await.expect("connect");
        // Exits without reading a megabyte of stdin: the window never reopens for the rest.
        let output = session.run("exit 0", &megabyte()).await.expect("run");
        assert_eq!(output.status, Some(0));
        // Killed by a signal: sshd sends exit-signal, not exit-status.
        let output = session
            .run("echo before; kill -9 $$", b"")
            .await
            .expect("run");
        assert_eq!(output.status, None);
        assert_eq!(output.stdout, b"before\n");
        // The session is still usable afterwards.
        let output = session.run("true", b"").await.expect("run");
        assert!(output.success());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_is_refused_with_its_fingerprint() {
    let s = setup();
    // known_hosts knows another port of the same address only.
    let other = format!(
        "[127.0.0.1]:1 {}\n",
        common::sshd::public_key_text(&s.sshd.host_public())
    );
    std::fs::write(&s.known_hosts, &other).expect("write");
    let error = within(s.connect()).await.expect_err("must refuse");
    let SshError::UnknownHostKey {
        host,
        port,
        key_type,
        fingerprint: shown,
        known_hosts,
        ..
    } = &error
    else {
        panic!("expected UnknownHostKey, got {error:?}");
    };
    assert_eq!((host.as_str(), *port), ("127.0.0.1", s.sshd.port));
    assert_eq!(key_type, "ssh-ed25519");
    assert_eq!(shown, &fingerprint(&s.sshd.host_public()));
    assert!(shown.starts_with("SHA256:") && !shown.ends_with('='));
    assert_eq!(known_hosts, &s.known_hosts);
    let message = error.to_string();
    assert!(
        message.contains(shown.as_str()) && message.contains("127.0.0.1"),
        "{message}"
    );
    let help = error.help().expect("help");
    assert!(help.contains("--accept-new"), "{help}");
    assert!(
        help.contains(&format!(
            "ssh-keyscan -p {} 127.0.0.1 >> {}",
            s.sshd.port,
            s.known_hosts.display()
        )),
        "{help}"
    );
    assert_eq!(std::fs::read_to_string(&s.known_hosts).unwrap(), other);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_new_records_the_key_then_strict_mode_knows_it() {
    let s = setup();
    let known_hosts = s.dir.path().join("fresh/dir/known_hosts");
    let mut opts = options(&known_hosts);
    opts.accept_new = true;
    let t = target(&s.sshd, Some(&s.key));
    within(async {
        let session = SshSession::connect(&t, &opts)
            .await
            .expect("accept-new connect");
        assert!(session.run("true", b"").await.expect("run").success());
        session.close().await;
    })
    .await;
    let text = std::fs::read_to_string(&known_hosts).expect("file created");
    assert_eq!(text, s.sshd.known_hosts_line());
    assert!(text.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", s.sshd.port)));
    assert_eq!(common::mode(&known_hosts), 0o600);

    opts.accept_new = false;
    within(SshSession::connect(&t, &opts))
        .await
        .expect("strict connect after accept-new");
    // Nothing appended the second time.
    assert_eq!(std::fs::read_to_string(&known_hosts).unwrap(), text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_key_is_refused_even_with_accept_new() {
    let s = setup();
    let impostor = keygen(s.dir.path(), "other_host_key", "ed25519", "");
    let text = format!(
        "# managed by hand\n{}",
        s.sshd.known_hosts_line_for(&impostor)
    );
    std::fs::write(&s.known_hosts, &text).expect("write");
    let mut opts = options(&s.known_hosts);
    opts.accept_new = true;
    let error = within(SshSession::connect(&target(&s.sshd, Some(&s.key)), &opts))
        .await
        .expect_err("must refuse");
    let SshError::ChangedHostKey {
        line,
        fingerprint: shown,
        known_hosts,
        ..
    } = &error
    else {
        panic!("expected ChangedHostKey, got {error:?}");
    };
    assert_eq!(*line, 2);
    assert_eq!(shown, &fingerprint(&s.sshd.host_public()));
    assert_eq!(known_hosts, &s.known_hosts);
    assert!(error.to_string().contains("line 2"), "{error}");
    assert!(error.help().expect("help").contains("ssh-keygen -R"));
    assert_eq!(std::fs::read_to_string(&s.known_hosts).unwrap(), text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_known_hosts_entries_match() {
    let s = setup();
    let status = Command::new("ssh-keygen")
        .arg("-q")
        .arg("-H")
        .arg("-f")
        .arg(&s.known_hosts)
        .stdout(Stdio::null())
        .status()
        .expect("ssh-keygen -H");
    assert!(status.success());
    let text = std::fs::read_to_string(&s.known_hosts).unwrap();
    assert!(text.starts_with("|1|"), "not hashed: {text}");
    within(s.connect()).await.expect("hashed entry recognised");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_rsa_host_key_is_asked_for_first() {
    // The server has Ed25519 and RSA host keys; known_hosts records only the RSA one. Without
    // ordering host key algorithms like ssh does, the Ed25519 key would look like a changed key.
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "id_ed25519", "ed25519", "");
    let sshd = Sshd::start_with(&[&public_of(&key)], &["ed25519", "rsa"], "");
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&known_hosts, sshd.known_hosts_line_for(&sshd.host_keys[1])).unwrap();
    within(SshSession::connect(
        &target(&sshd, Some(&key)),
        &options(&known_hosts),
    ))
    .await
    .expect("connect with the RSA host key");
}

/// A key file's first request carries its signature (vendor/russh): sshd never sees the probe
/// that asks whether it would take the key, which would cost a round trip. Both kinds of key sign
/// at once, and a key the server refuses is followed by the next one on the same connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_files_sign_their_first_request_without_a_probe() {
    let s = setup();
    within(s.connect()).await.expect("connect");
    let log = s.sshd.log_text();
    assert!(log.contains("Accepted publickey"), "{log}");
    // sshd logs a request without a signature at DEBUG1 ("userauth_pubkey: publickey test pkalg
    // ALG pkblob ..."); a signed one only as accepted.
    assert!(!log.contains("pkalg"), "a probe reached sshd:\n{log}");
}

/// The first command's channel goes out right behind the signed authentication request
/// (vendor/russh), compressed, and sshd opens it as soon as the key is accepted. When the key is
/// refused, sshd read that open before authentication (it logs a protocol error and answers
/// UNIMPLEMENTED): the compression started for it is taken back, the next key is read as sent,
/// and the channel is opened once authenticated. Commands run in both cases, and 1 MiB each way
/// proves the compressed streams stayed in step. A server with `Compression no` reads the early
/// open as sent, in both cases too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_channel_rides_with_the_authentication() {
    let s = setup();
    let mut opts = options(&s.known_hosts);
    let stranger = keygen(s.dir.path(), "stranger", "ed25519", "");
    for (keys, refused) in [
        (vec![s.key.clone()], false),
        (vec![stranger, s.key.clone()], true),
    ] {
        opts.default_identities = keys;
        within(async {
            let session = SshSession::connect(&target(&s.sshd, None), &opts)
                .await
                .expect("connect");
            let data = megabyte();
            let output = session.run("cat", &data).await.expect("run");
            assert!(output.stdout == data, "cat did not echo the megabyte");
            session.close().await;
        })
        .await;
        let log = s.sshd.log_text();
        assert_eq!(log.contains("dispatch_protocol_error"), refused, "{log}");
        assert!(log.contains("Enabling compression"), "{log}");
    }
    // A server that compresses nothing reads the early open as sent, refused key first or not.
    let plain = Sshd::start_with(&[&public_of(&s.key)], &["ed25519"], "Compression no");
    std::fs::write(&s.known_hosts, plain.known_hosts_line()).expect("write known_hosts");
    let stranger = s.dir.path().join("stranger");
    for keys in [vec![s.key.clone()], vec![stranger.clone(), s.key.clone()]] {
        opts.default_identities = keys;
        within(async {
            let session = SshSession::connect(&target(&plain, None), &opts)
                .await
                .expect("connect without compression");
            let output = session.run("echo plain", b"").await.expect("run");
            assert_eq!(output.stdout, b"plain\n");
            session.close().await;
        })
        .await;
    }
    let log = plain.log_text();
    assert!(!log.contains("Enabling compression"), "{log}");
    assert!(log.contains("dispatch_protocol_error"), "{log}");
}

/// Both directions are compressed (zlib@openssh.com, after authentication) when sshd agrees, as
/// OpenSSH's does by default: a command's script then fits in a new connection's first TCP window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_compressed_when_the_server_agrees() {
    let s = setup();
    within(async {
        let session = s.connect().await.expect("connect");
        let output = session.run("cat", &megabyte()).await.expect("run cat");
        assert!(output.stdout == megabyte(), "cat through compression");
        session.close().await;
    })
    .await;
    let log = s.sshd.log_text();
    for direction in ["client->server", "server->client"] {
        assert!(
            log.lines()
                .any(|line| line.contains(direction)
                    && line.contains("compression: zlib@openssh.com")),
            "{direction} not compressed:\n{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_client_key_signs_with_sha2() {
    // OpenSSH 8.8+ refuses SHA-1 `ssh-rsa` signatures by default, so success means rsa-sha2-*.
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "id_rsa", "rsa", "");
    let sshd = Sshd::start(&[&public_of(&key)]);
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&known_hosts, sshd.known_hosts_line()).unwrap();
    within(SshSession::connect(
        &target(&sshd, Some(&key)),
        &options(&known_hosts),
    ))
    .await
    .expect("rsa key accepted");
    // The request is signed at once (no probe, whose log line would name the algorithm), so the
    // success itself is the proof: this sshd refuses SHA-1 `ssh-rsa` signatures.
    let log = sshd.log_text();
    assert!(log.contains("Accepted publickey for"), "{log}");
    assert!(log.contains("ssh2: RSA SHA256:"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_or_no_key_fails_authentication() {
    let s = setup();
    let stranger = keygen(s.dir.path(), "stranger", "ed25519", "");
    let error = within(SshSession::connect(
        &target(&s.sshd, Some(&stranger)),
        &options(&s.known_hosts),
    ))
    .await
    .expect_err("wrong key");
    let SshError::AuthFailed { user, tried, .. } = &error else {
        panic!("expected AuthFailed, got {error:?}");
    };
    assert_eq!(user, &current_user());
    assert_eq!(tried, &vec![stranger.display().to_string()]);
    let message = error.to_string();
    assert!(
        message.contains(&format!("{}@127.0.0.1", current_user())),
        "{message}"
    );
    assert!(
        message.contains(&stranger.display().to_string()),
        "{message}"
    );
    let secret = std::fs::read_to_string(&stranger).unwrap();
    let secret_body = secret.lines().nth(1).unwrap();
    assert!(!format!("{error:?}{message}").contains(secret_body));

    let error = within(SshSession::connect(
        &target(&s.sshd, None),
        &options(&s.known_hosts),
    ))
    .await
    .expect_err("no key");
    let SshError::AuthFailed { tried, .. } = &error else {
        panic!("expected AuthFailed, got {error:?}");
    };
    assert!(tried.is_empty());
    assert!(error.to_string().contains("no key"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_identities_are_tried_and_missing_ones_skipped() {
    let s = setup();
    let mut opts = options(&s.known_hosts);
    let stranger = keygen(s.dir.path(), "stranger", "ed25519", "");
    opts.default_identities = vec![s.dir.path().join("id_missing"), stranger, s.key.clone()];
    within(SshSession::connect(&target(&s.sshd, None), &opts))
        .await
        .expect("the third default identity works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_and_silent_hosts_fail_fast() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(&dir.path().join("known_hosts"));
    opts.connect_timeout = Duration::from_secs(1);

    // A closed port: refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let t = SshTarget {
        label: "gone".into(),
        host: "127.0.0.1".into(),
        port: Some(port),
        ..SshTarget::default()
    };
    let started = Instant::now();
    let error = within(SshSession::connect(&t, &opts))
        .await
        .expect_err("closed port");
    assert!(started.elapsed() < Duration::from_secs(1));
    let SshError::Unreachable { addr, hop, .. } = &error else {
        panic!("expected Unreachable, got {error:?}");
    };
    assert_eq!(addr, &format!("127.0.0.1:{port}"));
    assert_eq!(hop, "gone");
    assert!(error.to_string().contains("refused"), "{error}");

    // Accepts TCP (the kernel does, from the backlog) but never speaks SSH.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let t = SshTarget {
        port: Some(silent.local_addr().unwrap().port()),
        ..t
    };
    let started = Instant::now();
    let error = within(SshSession::connect(&t, &opts))
        .await
        .expect_err("silent");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    assert!(matches!(error, SshError::Timeout { .. }), "{error:?}");
    assert!(error.to_string().contains("ssh handshake"), "{error}");
}

/// `ssh-agent -D -a SOCKET`, killed by pid when dropped.
struct Agent {
    child: Child,
    socket: PathBuf,
}

impl Agent {
    fn start(dir: &Path) -> Agent {
        let socket = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn ssh-agent");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "ssh-agent socket never appeared");
            std::thread::sleep(Duration::from_millis(10));
        }
        Agent { child, socket }
    }

    /// `ssh-add KEY` with SSH_AUTH_SOCK set for that child only; a passphrase comes via
    /// SSH_ASKPASS (a script echoing it), since there is no terminal.
    fn add(&self, key: &Path, passphrase: Option<&str>) {
        let mut command = Command::new("ssh-add");
        command
            .arg("-q")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.socket)
            .stdin(Stdio::null());
        if let Some(passphrase) = passphrase {
            let askpass = self.socket.with_file_name("askpass.sh");
            std::fs::write(&askpass, format!("#!/bin/sh\necho '{passphrase}'\n")).unwrap();
            std::fs::set_permissions(
                &askpass,
                std::os::unix::fs::PermissionsExt::from_mode(0o700),
            )
            .unwrap();
            command
                .env("SSH_ASKPASS", &askpass)
                .env("SSH_ASKPASS_REQUIRE", "force")
                .env("DISPLAY", ":0");
        }
        let status = command.status().expect("run ssh-add");
        assert!(status.success(), "ssh-add failed");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_keys_authenticate() {
    let s = setup();
    let agent = Agent::start(s.dir.path());
    agent.add(&s.key, None);
    let mut opts = options(&s.known_hosts);
    opts.agent_socket = Some(agent.socket.clone());
    within(async {
        let session = SshSession::connect(&target(&s.sshd, None), &opts)
            .await
            .expect("agent auth");
        assert!(session.run("true", b"").await.unwrap().success());
    })
    .await;
}

/// The early channel rides behind an agent key's signed request too (after the server's PK_OK),
/// and behind a key file's: shown by a server that wants two keys (`AuthenticationMethods
/// publickey,publickey`), which answers the first accepted key with a partial success, so it reads
/// the channel's open before authentication is complete and logs it as a protocol error. wgdeploy
/// then says it cannot give a second factor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_early_channel_rides_behind_agent_and_file_keys() {
    let s = setup();
    let agent = Agent::start(s.dir.path());
    agent.add(&s.key, None);
    for with_agent in [true, false] {
        let sshd = Sshd::start_with(
            &[&public_of(&s.key)],
            &["ed25519"],
            "AuthenticationMethods publickey,publickey",
        );
        std::fs::write(&s.known_hosts, sshd.known_hosts_line()).expect("write known_hosts");
        let mut opts = options(&s.known_hosts);
        let identity = match with_agent {
            true => {
                opts.agent_socket = Some(agent.socket.clone());
                None
            }
            false => Some(s.key.as_path()),
        };
        let error = within(SshSession::connect(&target(&sshd, identity), &opts))
            .await
            .expect_err("a second factor is wanted");
        assert!(error.to_string().contains("second factor"), "{error}");
        let log = sshd.log_text();
        assert!(log.contains("Partial publickey"), "{log}");
        assert!(
            log.contains("dispatch_protocol_error"),
            "agent {with_agent}: {log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_identity_needs_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "id_locked", "ed25519", "correct horse");
    let sshd = Sshd::start(&[&public_of(&key)]);
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&known_hosts, sshd.known_hosts_line()).unwrap();
    let t = target(&sshd, Some(&key));

    let error = within(SshSession::connect(&t, &options(&known_hosts)))
        .await
        .expect_err("no agent");
    assert!(matches!(error, SshError::EncryptedKey { .. }), "{error:?}");
    assert!(error.to_string().contains("ssh-agent"), "{error}");
    assert!(error.to_string().contains("id_locked"), "{error}");
    let help = error.help().expect("help");
    assert!(
        help.contains(&format!("ssh-add {}", key.display())),
        "{help}"
    );

    // With the key loaded in an agent, the same target connects (the agent signs for the file).
    let agent = Agent::start(dir.path());
    agent.add(&key, Some("correct horse"));
    let mut opts = options(&known_hosts);
    opts.agent_socket = Some(agent.socket.clone());
    within(SshSession::connect(&t, &opts))
        .await
        .expect("agent stands in for the encrypted file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_config_alias_supplies_everything() {
    let s = setup();
    let config = s.dir.path().join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host alias\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n",
            s.sshd.port,
            current_user(),
            s.key.display()
        ),
    )
    .unwrap();
    let mut opts = options(&s.known_hosts);
    opts.config_file = Some(config);
    opts.default_user = "nobody-by-default".to_string();
    let t = SshTarget {
        label: "alias".into(),
        host: "alias".into(),
        ..SshTarget::default()
    };
    within(async {
        let session = SshSession::connect(&t, &opts)
            .await
            .expect("connect via alias");
        let output = session.run("id -un", b"").await.unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            current_user()
        );
    })
    .await;
}

/// Two servers accepting the same key; the known_hosts file knows both.
struct TwoHosts {
    setup: Setup,
    bastion: Sshd,
}

fn two_hosts() -> TwoHosts {
    let setup = setup();
    let bastion = Sshd::start(&[&public_of(&setup.key)]);
    let mut text = std::fs::read_to_string(&setup.known_hosts).unwrap();
    text.push_str(&bastion.known_hosts_line());
    std::fs::write(&setup.known_hosts, text).unwrap();
    TwoHosts { setup, bastion }
}

impl TwoHosts {
    /// The bastion's log shows a direct-tcpip request towards the target's port.
    fn went_through_bastion(&self) -> bool {
        self.bastion.log_text().lines().any(|line| {
            line.contains("direct")
                && line.contains(&format!("target 127.0.0.1 port {}", self.setup.sshd.port))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jump_host_from_the_target() {
    let h = two_hosts();
    let s = &h.setup;
    let t = SshTarget {
        jump: Some(Box::new(SshTarget {
            label: "bastion".into(),
            ..target(&h.bastion, Some(&s.key))
        })),
        ..target(&s.sshd, Some(&s.key))
    };
    within(async {
        let session = SshSession::connect(&t, &options(&s.known_hosts))
            .await
            .expect("connect through the bastion");
        let output = session.run("echo via; cat", b"tunnel").await.unwrap();
        assert_eq!(output.stdout, b"via\ntunnel");
        session.close().await;
    })
    .await;
    assert!(
        h.went_through_bastion(),
        "no direct-tcpip in the bastion's log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jump_host_from_ssh_config_proxy_jump() {
    let h = two_hosts();
    let s = &h.setup;
    let config = s.dir.path().join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host target\n  HostName 127.0.0.1\n  Port {}\n  ProxyJump {}@127.0.0.1:{}\nHost *\n  IdentityFile {}\n",
            s.sshd.port,
            current_user(),
            h.bastion.port,
            s.key.display()
        ),
    )
    .unwrap();
    let mut opts = options(&s.known_hosts);
    opts.config_file = Some(config);
    let t = SshTarget {
        label: "target".into(),
        host: "target".into(),
        ..SshTarget::default()
    };
    within(async {
        let session = SshSession::connect(&t, &opts)
            .await
            .expect("connect via ProxyJump");
        assert!(session.run("true", b"").await.unwrap().success());
    })
    .await;
    assert!(
        h.went_through_bastion(),
        "no direct-tcpip in the bastion's log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hop_is_verified_against_known_hosts() {
    let h = two_hosts();
    let s = &h.setup;
    // Only the target is known; the bastion is not.
    std::fs::write(&s.known_hosts, s.sshd.known_hosts_line()).unwrap();
    let t = SshTarget {
        jump: Some(Box::new(SshTarget {
            label: "bastion".into(),
            ..target(&h.bastion, Some(&s.key))
        })),
        ..target(&s.sshd, Some(&s.key))
    };
    let error = within(SshSession::connect(&t, &options(&s.known_hosts)))
        .await
        .expect_err("unknown bastion");
    let SshError::UnknownHostKey { hop, port, .. } = &error else {
        panic!("expected UnknownHostKey, got {error:?}");
    };
    assert_eq!(*port, h.bastion.port);
    assert_eq!(hop, "jump host bastion (for web1)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jump_to_a_closed_port_is_unreachable() {
    let h = two_hosts();
    let s = &h.setup;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let t = SshTarget {
        port: Some(port),
        jump: Some(Box::new(SshTarget {
            label: "bastion".into(),
            ..target(&h.bastion, Some(&s.key))
        })),
        ..target(&s.sshd, Some(&s.key))
    };
    let error = within(SshSession::connect(&t, &options(&s.known_hosts)))
        .await
        .expect_err("closed port behind the bastion");
    let SshError::Unreachable { hop, addr, .. } = &error else {
        panic!("expected Unreachable, got {error:?}");
    };
    assert_eq!(hop, "web1");
    assert_eq!(addr, &format!("127.0.0.1:{port}"));
    assert!(error.to_string().contains("jump host"), "{error}");
}

/// Connect + `true` + close latency, sequential and parallel, against one local sshd. Not a
/// pass/fail check: run with `cargo test --release --test ssh_transport -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "timing figures, run by hand"]
async fn latency_figures() {
    const N: usize = 20;
    // With LATENCY_PLAIN_SHELL=1, bash on the server skips ~/.bashrc (it sources it for sshd
    // commands only at SHLVL 1), to time the transport rather than the user's shell startup.
    let mut s = setup();
    if std::env::var_os("LATENCY_PLAIN_SHELL").is_some() {
        s.sshd = Sshd::start_with(&[&public_of(&s.key)], &["ed25519"], "SetEnv SHLVL=1");
        std::fs::write(&s.known_hosts, s.sshd.known_hosts_line()).expect("write known_hosts");
    }
    let s = Arc::new(s);
    let once = |s: Arc<Setup>| async move {
        let started = Instant::now();
        let session = s.connect().await.expect("connect");
        let connected = started.elapsed();
        assert!(session.run("true", b"").await.expect("run").success());
        let ran = started.elapsed();
        session.close().await;
        (connected, ran)
    };
    let started = Instant::now();
    let mut sequential = Vec::new();
    for _ in 0..N {
        sequential.push(once(Arc::clone(&s)).await);
    }
    let sequential_total = started.elapsed();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..N {
        tasks.spawn(once(Arc::clone(&s)));
    }
    let mut parallel = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        parallel.push(joined.expect("task"));
    }
    let parallel_total = started.elapsed();
    let report = |name: &str, total: Duration, samples: &mut Vec<(Duration, Duration)>| {
        samples.sort();
        let median = samples[samples.len() / 2];
        let worst = samples
            .iter()
            .map(|(_, ran)| *ran)
            .max()
            .unwrap_or_default();
        println!(
            "{name}: {N} x (connect + run true + close) in {total:?}; median connect {:?}, median connect+run {:?}, slowest connect+run {worst:?}",
            median.0, median.1
        );
    };
    report("sequential", sequential_total, &mut sequential);
    report("parallel", parallel_total, &mut parallel);
}

/// The confirm's probe: a new connection reaches sshd (directly, and through a bastion as a new
/// tunnel from it); with the target's listener gone, the established session still runs commands
/// but a new connection does not get through, and the probe says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_connection_reaches_sshd_until_its_listener_is_gone() {
    let TwoHosts { setup: s, bastion } = two_hosts();
    let through = SshTarget {
        jump: Some(Box::new(SshTarget {
            label: "bastion".into(),
            ..target(&bastion, Some(&s.key))
        })),
        ..target(&s.sshd, Some(&s.key))
    };
    within(async {
        let direct = s.connect().await.expect("connect");
        let via = SshSession::connect(&through, &options(&s.known_hosts))
            .await
            .expect("connect through the bastion");
        assert_eq!(direct.reach_anew().await, Some(Ok(())));
        assert_eq!(via.reach_anew().await, Some(Ok(())));
        let Setup {
            sshd,
            dir: _dir,
            known_hosts: _known_hosts,
            ..
        } = s;
        let port = sshd.port;
        drop(sshd);
        let output = direct
            .run("echo still", b"")
            .await
            .expect("the old session lives");
        assert_eq!(output.stdout, b"still\n");
        for session in [&direct, &via] {
            let error = session
                .reach_anew()
                .await
                .expect("ssh sessions can probe")
                .unwrap_err();
            assert!(
                error.message.contains("did not reach sshd")
                    && error.message.contains(&format!("127.0.0.1:{port}")),
                "{}",
                error.message
            );
        }
    })
    .await;
}
