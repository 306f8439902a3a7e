//! `mawid serve`, the server binary built beside this one, run as its own process on the
//! benchmark's database: its start-up is timed from the spawn (exec, configuration, pool,
//! migrations checked) to the first `200` on `/readyz`, and its memory is its own, without the
//! load clients'.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

pub struct ServerProcess {
    child: Child,
    pub port: u16,
    /// From the spawn to the first `200` on `/readyz`.
    pub ready_after: Duration,
    /// Its outbox writes the storm's confirmation mails here, as the README's run does.
    _mail: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts `mawid serve` on `db_url` signing with `jwt_secret`; the rest of its settings come
    /// from this process's environment (`MAWID_LIMIT_*`, `MAWID_DB_MAX_CONNECTIONS`, ...) or
    /// its defaults, as a deployment would give them.
    pub async fn start(db_url: &str, jwt_secret: &str) -> anyhow::Result<Self> {
        let binary = std::env::current_exe()?.with_file_name("mawid");
        anyhow::ensure!(
            binary.exists(),
            "{} is missing: build the server beside the benchmark (scripts/bench.sh does)",
            binary.display()
        );
        let mail = tempfile::Builder::new()
            .prefix("mawid-bench-mail-")
            .tempdir()?;
        let port = free_port()?;
        let started = Instant::now();
        let mut command = Command::new(&binary);
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe and touches only the child being started.
            unsafe {
                // A benchmark killed outright takes its server with it instead of leaving it
                // serving on.
                command.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let child = command
            .arg("serve")
            .env("DATABASE_URL", db_url)
            .env("MAWID_JWT_SECRET", jwt_secret)
            .env("MAWID_BIND", format!("127.0.0.1:{port}"))
            .env("MAWID_MAIL_DIR", mail.path())
            // Its errors, if any, among the benchmark's lines.
            .env("RUST_LOG", "error")
            .stdout(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut server = Self {
            child,
            port,
            ready_after: Duration::ZERO,
            _mail: mail,
        };
        server.ready_after = server.until_ready(started).await?;
        Ok(server)
    }

    async fn until_ready(&mut self, started: Instant) -> anyhow::Result<Duration> {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(5))
            .finish();
        let url = format!("http://127.0.0.1:{}/readyz", self.port);
        loop {
            if let Ok(r) = client.get(&url).send().await {
                if r.status().is_success() {
                    return Ok(started.elapsed());
                }
            }
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("mawid serve exited before it was ready: {status}");
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "/readyz never answered 200"
            );
            actix_web::rt::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// A line of the server's `/proc/<pid>/status` (`VmRSS`, `VmHWM`) in MiB; Linux only.
    pub fn memory_mib(&self, field: &str) -> Option<f64> {
        crate::memory_mib_of(&format!("/proc/{}/status", self.child.id()), field)
    }
}

impl Drop for ServerProcess {
    /// Stops it as a deployment would (SIGTERM, a graceful shutdown), killing it only when it
    /// does not end.
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill only sends a signal to the child this value owns.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free right now: bound by the system, then let go for the server to bind.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
