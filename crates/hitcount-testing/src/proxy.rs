//! A TCP proxy a test starts in front of a database and switches between
//! forwarding, hanging and refusing: the faults of a real network and
//! server, made on demand.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with its connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Passes every byte both ways.
    Forward,
    /// Keeps every connection open and accepts new ones, but passes no
    /// byte: a server that hangs, or a network that drops packets.
    Freeze,
    /// Cuts every connection and closes new ones at once: a server that
    /// is down or restarting.
    Refuse,
}

/// A proxy on a free local port; stops when dropped.
pub struct TcpProxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// Starts forwarding from a free port of 127.0.0.1 to `target`.
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let addr = listener.local_addr().expect("bound");
        let (mode, watching) = watch::channel(Mode::Forward);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *watching.borrow() == Mode::Refuse {
                    drop(client);
                    continue;
                }
                tokio::spawn(connect(client, target, watching.clone()));
            }
        });
        TcpProxy { addr, mode, accept }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches every connection, open or new, to `mode`.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.set(Mode::Refuse);
    }
}

async fn connect(client: TcpStream, target: SocketAddr, mode: watch::Receiver<Mode>) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Either direction ending ends the connection (both halves dropped).
    tokio::select! {
        _ = pipe(client_read, server_write, mode.clone()) => {}
        _ = pipe(server_read, client_write, mode) => {}
    }
}

/// Copies `from` to `to` while the mode forwards; returns when either side
/// closes or the proxy refuses.
async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !forwarding(&mut mode).await {
            return;
        }
        tokio::select! {
            read = from.read(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                // Bytes read just before a freeze wait for it to end.
                if !forwarding(&mut mode).await || to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            // A change of mode: look again (a read cancelled here loses
            // nothing: tokio's reads are cancel-safe).
            _ = mode.changed() => {}
        }
    }
}

/// Waits while frozen; false once the proxy refuses or is gone.
async fn forwarding(mode: &mut watch::Receiver<Mode>) -> bool {
    loop {
        match *mode.borrow_and_update() {
            Mode::Forward => return true,
            Mode::Refuse => return false,
            Mode::Freeze => {}
        }
        if mode.changed().await.is_err() {
            return false;
        }
    }
}
