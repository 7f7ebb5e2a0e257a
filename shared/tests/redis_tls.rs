//! `rediss://` works: ElastiCache Serverless speaks TLS only. A real redis-server with TLS on
//! loopback, its certificate signed by a test CA (made with the openssl CLI): the client speaks
//! TLS, checks the certificate, and never falls back to plain text.

use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use lait_shared::stores::redis::Redis;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn openssl(args: &[&str], dir: &Path) {
    let ok = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("the openssl CLI");
    assert!(ok.success(), "openssl {args:?} failed");
}

/// A test CA and a certificate for 127.0.0.1 signed by it.
fn certificates(dir: &Path) {
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    for args in [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=lait test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ][..],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "key.pem",
            "-out",
            "req.csr",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "req.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "san.ext",
            "-out",
            "cert.pem",
        ],
    ] {
        openssl(args, dir);
    }
}

fn tls_server(dir: &Path) -> (Server, u16) {
    certificates(dir);
    let port = free_port();
    let bin = std::env::var("LAIT_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    let child = Command::new(bin)
        .current_dir(dir)
        .args(["--port", "0", "--save", "", "--appendonly", "no"])
        .args(["--tls-port", &port.to_string(), "--tls-auth-clients", "no"])
        .args(["--tls-cert-file", "cert.pem", "--tls-key-file", "key.pem"])
        .args(["--tls-ca-cert-file", "ca.pem"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, port)
}

#[tokio::test]
async fn rediss_urls_speak_tls_and_verify_the_certificate() {
    let dir = std::env::temp_dir().join(format!("lait-redis-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_server, port) = tls_server(&dir);
    let url = format!("rediss://127.0.0.1:{port}");

    // Trusting the test CA (on AWS the system's roots hold ElastiCache's CA): PING over TLS.
    let root = std::fs::read(dir.join("ca.pem")).unwrap();
    let trusted = redis::Client::build_with_tls(
        url.as_str(),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root),
        },
    )
    .unwrap();
    Redis::with_client(trusted)
        .ping()
        .await
        .expect("PING over TLS");

    // The URL alone checks against the system's roots, which do not hold the test CA: refused.
    let unverified = Redis::new(&url).unwrap();
    assert!(
        unverified.ping().await.is_err(),
        "an untrusted certificate was accepted"
    );

    // Plain text to the TLS port gets nowhere.
    let plain = Redis::new(&format!("redis://127.0.0.1:{port}")).unwrap();
    assert!(
        plain.ping().await.is_err(),
        "plain text reached a TLS-only port"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
