//! `mawid healthcheck`: the container's HEALTHCHECK. The slim runtime image has no curl, so the
//! binary asks its own `/readyz` over plain HTTP/1.0 and exits 0 only on a 200.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3);

/// The address to probe for a listen address: a wildcard bind is reached on loopback.
pub fn probe_addr(bind: &str) -> Result<SocketAddr, String> {
    let addr = bind
        .to_socket_addrs()
        .map_err(|e| format!("MAWID_BIND {bind}: {e}"))?
        .next()
        .ok_or_else(|| format!("MAWID_BIND {bind} names no address"))?;
    Ok(match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => ([127, 0, 0, 1], a.port()).into(),
        SocketAddr::V6(a) if a.ip().is_unspecified() => {
            (std::net::Ipv6Addr::LOCALHOST, a.port()).into()
        }
        other => other,
    })
}

/// Ok when `/readyz` answers 200 within the timeout.
pub fn check(bind: &str) -> Result<(), String> {
    let addr = probe_addr(bind)?;
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("{addr}: {e}"))?;
    stream.set_read_timeout(Some(TIMEOUT)).ok();
    stream.set_write_timeout(Some(TIMEOUT)).ok();
    let request =
        format!("GET /readyz HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: mawid-healthcheck\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).map_err(|e| format!("{addr}: {e}"))?;
    let status_line = String::from_utf8_lossy(&head[..n]);
    let status = status_line.split_whitespace().nth(1).unwrap_or("");
    if status == "200" {
        Ok(())
    } else {
        Err(format!("/readyz answered {status:?}"))
    }
}
