//! A real rsyslog (Debian `rsyslog` + `rsyslog-gnutls`) listening with TLS (RFC 5425) on
//! 127.0.0.1, writing every message it receives as one JSON line (header fields, structured
//! data and the message) for the test to read. Started per test with a throwaway PKI.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::pki::Pki;

#[derive(Debug)]
pub struct Rsyslog {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

/// rsyslogd's path (`VIGIL_RSYSLOGD`, set by `make test`), or skip/fail per
/// `VIGIL_REQUIRE_SERVICES`.
pub fn binary() -> Option<PathBuf> {
    crate::service("VIGIL_RSYSLOGD", "rsyslogd (rsyslog + rsyslog-gnutls)").map(PathBuf::from)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

impl Rsyslog {
    /// Starts rsyslogd; `mutual`: require a client certificate signed by the test CA.
    pub async fn start(bin: &std::path::Path, pki: &Pki, mutual: bool) -> Rsyslog {
        Self::start_on(bin, pki, mutual, free_port()).await
    }

    /// A port no one listens on yet (for a receiver that comes up later).
    pub fn reserve_port() -> u16 {
        free_port()
    }

    pub async fn start_on(bin: &std::path::Path, pki: &Pki, mutual: bool, port: u16) -> Rsyslog {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (name, text) in [
            ("ca.pem", &pki.ca_pem),
            ("srv.pem", &pki.server_cert_pem),
            ("srv.key", &pki.server_key_pem),
        ] {
            std::fs::write(d.join(name), text).unwrap();
        }
        let auth = if mutual { "x509/certvalid" } else { "anon" };
        let w = d.display();
        let conf = format!(
            r#"global(workDirectory="{w}" DefaultNetstreamDriver="gtls"
       DefaultNetstreamDriverCAFile="{w}/ca.pem"
       DefaultNetstreamDriverCertFile="{w}/srv.pem"
       DefaultNetstreamDriverKeyFile="{w}/srv.key"
       maxMessageSize="64k"
       parser.escapeControlCharactersOnReceive="off"
       parser.escape8BitCharactersOnReceive="off"
       parser.dropTrailingLFOnReception="off")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="{auth}")
template(name="j" type="list" option.jsonf="on") {{
  property(outname="pri" name="pri" format="jsonf")
  property(outname="ts" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}}
input(type="imtcp" port="{port}" address="127.0.0.1")
*.* action(type="omfile" file="{w}/out.jsonl" template="j" flushOnTXEnd="on" asyncWriting="off")
"#
        );
        let mut f = std::fs::File::create(d.join("rsyslog.conf")).unwrap();
        f.write_all(conf.as_bytes()).unwrap();
        let child = Command::new(bin)
            .arg("-n")
            .arg("-f")
            .arg(d.join("rsyslog.conf"))
            .arg("-i")
            .arg(d.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(d.join("rsyslogd.log")).unwrap(),
            ))
            .spawn()
            .unwrap();
        let r = Rsyslog { child, dir, port };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("rsyslogd did not listen on {port}: {}", r.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rsyslogd.log")).unwrap_or_default()
    }

    /// The messages written so far.
    pub fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("out.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits (up to 20 s) until at least `n` messages were written.
    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..400 {
            let r = self.records();
            if r.len() >= n {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let r = self.records();
        panic!(
            "rsyslog wrote {} of {n} messages; log: {}",
            r.len(),
            self.log()
        );
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
