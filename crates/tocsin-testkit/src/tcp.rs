//! Raw TCP test servers: one that accepts and never reads or writes (stall), one that sends a
//! banner line and then waits for the peer to close, and an echo server. Plus an address that
//! refuses connections.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// What a [`TcpServer`] does with each connection.
#[derive(Clone, Debug)]
enum Behaviour {
    Stall,
    Banner(Arc<[u8]>),
    Echo,
}

/// A running raw TCP server; it stops (and drops every connection) when dropped.
#[derive(Debug)]
pub struct TcpServer {
    addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl TcpServer {
    /// Accepts connections and never reads from or writes to them.
    pub async fn stall() -> io::Result<Self> {
        Self::spawn(Behaviour::Stall).await
    }

    /// Sends `banner` (e.g. `"SSH-2.0-test\r\n"`) on connect, then reads and discards until the
    /// peer closes.
    pub async fn banner(banner: impl AsRef<[u8]>) -> io::Result<Self> {
        Self::spawn(Behaviour::Banner(Arc::from(banner.as_ref()))).await
    }

    /// Writes back whatever it reads.
    pub async fn echo() -> io::Result<Self> {
        Self::spawn(Behaviour::Echo).await
    }

    async fn spawn(behaviour: Behaviour) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accepted = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(accept_loop(listener, behaviour, accepted.clone()));
        Ok(Self {
            addr,
            accepted,
            task,
        })
    }

    /// The address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, behaviour: Behaviour, accepted: Arc<AtomicU64>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    accepted.fetch_add(1, Ordering::Relaxed);
                    conns.spawn(handle(stream, behaviour.clone()));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn handle(mut stream: TcpStream, behaviour: Behaviour) {
    let mut buf = vec![0u8; 16 << 10];
    match behaviour {
        Behaviour::Stall => {
            // Hold the socket open without reading; the accept task's JoinSet ends us.
            std::future::pending::<()>().await;
        }
        Behaviour::Banner(banner) => {
            if stream.write_all(&banner).await.is_err() {
                return;
            }
            while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
        }
        Behaviour::Echo => loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        },
    }
}

/// An address on 127.0.0.1 where nothing listens (a port that was just bound and released), so
/// connecting to it is refused.
pub fn refused_addr() -> io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.local_addr()
}
