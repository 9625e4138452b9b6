//! The HTTP target of the benchmarks, in a process of its own so that its CPU time is measured
//! apart from the engine's: either this binary's hidden `target` subcommand (the testkit's hyper
//! server on a one-worker tokio runtime) or nginx with one worker.
//!
//! The `target` subcommand prints its port on stdout, answers `count` on stdin with the number of
//! requests served so far, and exits when stdin closes or after `--max-seconds`.

use std::io::{BufRead, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// Runs the testkit HTTP server until stdin closes (the hidden `target` subcommand).
pub(crate) fn serve(max: Duration) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("target-worker")
        .enable_all()
        .build()?;
    let server = rt.block_on(tocsin_testkit::HttpServer::start())?;
    let handle = server.handle();
    println!("{}", server.port());
    std::io::stdout().flush()?;
    // A watchdog: the target never outlives its bound, even if the parent forgets it.
    std::thread::spawn(move || {
        std::thread::sleep(max);
        std::process::exit(0);
    });
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim() == "count" {
            println!("{}", handle.requests());
            std::io::stdout().flush()?;
        }
    }
    drop(server);
    Ok(())
}

/// Which server answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `tocsin-bench target`: the testkit's hyper server, one worker thread.
    Testkit,
    /// nginx, one process (`master_process off`, one worker).
    Nginx,
}

/// A running target process; it is killed when dropped.
pub(crate) struct Target {
    kind: Kind,
    child: Child,
    port: u16,
    /// Every port it listens on (`port` first).
    ports: Vec<u16>,
    stdin: Option<ChildStdin>,
    stdout: Option<BufReader<ChildStdout>>,
}

impl Target {
    /// Starts `tocsin-bench target` and reads its port.
    pub(crate) fn spawn_testkit(max: Duration) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find this executable")?;
        let mut child = Command::new(exe)
            .args(["target", "--max-seconds", &max.as_secs().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the target process")?;
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let port: u16 = line
            .trim()
            .parse()
            .with_context(|| format!("target said {line:?}"))?;
        let target = Self {
            kind: Kind::Testkit,
            child,
            port,
            ports: vec![port],
            stdin,
            stdout: Some(stdout),
        };
        target.wait_ready()?;
        Ok(target)
    }

    /// Starts nginx (`/usr/sbin/nginx`) with one process listening on `ports` free ports, files
    /// under `dir`. Several ports spread connections over several destinations, as checks of
    /// many targets would: with one, the kernel's search for a free source port among the
    /// TIME_WAIT sockets of that single destination dominates at high connection rates.
    pub(crate) fn spawn_nginx(dir: &Path, ports: usize) -> anyhow::Result<Self> {
        let nginx = Path::new("/usr/sbin/nginx");
        if !nginx.exists() {
            bail!("--nginx: /usr/sbin/nginx is not installed");
        }
        let ports: Vec<u16> = (0..ports.max(1))
            .map(|_| free_port())
            .collect::<anyhow::Result<_>>()?;
        let port = ports[0];
        let listen: String = ports
            .iter()
            .map(|p| format!("    listen 127.0.0.1:{p} backlog=4096;\n"))
            .collect();
        std::fs::create_dir_all(dir)?;
        let d = dir.display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\nerror_log {d}/error.log warn;\n\
             pid {d}/nginx.pid;\nevents {{ worker_connections 16384; }}\n\
             http {{\n  access_log off;\n  keepalive_requests 1000000;\n\
             client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             server {{\n{listen}    location = /ok {{ return 200 \"ok\"; }}\n  }}\n}}\n"
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start nginx")?;
        let target = Self {
            kind: Kind::Nginx,
            child,
            port,
            ports,
            stdin: None,
            stdout: None,
        };
        target.wait_ready()?;
        Ok(target)
    }

    fn wait_ready(&self) -> anyhow::Result<()> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("the target on {addr} did not accept connections within 10 s")
    }

    /// Which server this is.
    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every port it listens on.
    pub(crate) fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Requests served so far (the testkit target only).
    pub(crate) fn requests(&mut self) -> Option<u64> {
        let stdin = self.stdin.as_mut()?;
        let stdout = self.stdout.as_mut()?;
        stdin.write_all(b"count\n").ok()?;
        stdin.flush().ok()?;
        let mut line = String::new();
        stdout.read_line(&mut line).ok()?;
        line.trim().parse().ok()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
