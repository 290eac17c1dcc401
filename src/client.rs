//! A small blocking KMIP-over-TLS client: one request, one response, over mutual TLS.
//! Used by the `keyward kmip` subcommand, tests and the load generator.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::kmip::tag;
use crate::ttlv::Limits;
use crate::ttlv::frame::{FrameStatus, inspect_header};

/// Errors of the client: the server, the network or the local files are at fault.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("cannot connect to {addr}: {message}")]
    Connect { addr: String, message: String },
    #[error("connection to the server: {0}")]
    Io(#[from] std::io::Error),
    #[error("the server sent a response that is not a KMIP response message")]
    BadResponse,
    #[error("the server's response declares {0} bytes, over the client's limit")]
    ResponseTooLarge(usize),
}

/// TLS settings for talking to a Keyward (or any KMIP) server with a client certificate.
pub fn tls_config(ca: &Path, cert: &Path, key: &Path) -> Result<Arc<ClientConfig>, ClientError> {
    let file_err = |path: &Path, message: String| ClientError::File {
        path: path.display().to_string(),
        message,
    };
    let mut roots = RootCertStore::empty();
    let cas = CertificateDer::pem_file_iter(ca)
        .map_err(|e| file_err(ca, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(ca, e.to_string()))?;
    for cert in cas {
        roots.add(cert).map_err(|e| file_err(ca, e.to_string()))?;
    }
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_err(cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(cert, e.to_string()))?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, e.to_string()))?;
    let config = ClientConfig::builder_with_provider(crate::server::tls_provider::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key_der)
        .map_err(|e| ClientError::Tls(e.to_string()))?;
    Ok(Arc::new(config))
}

pub struct KmipClient {
    stream: StreamOwned<ClientConnection, TcpStream>,
    limits: Limits,
}

impl KmipClient {
    /// Connects to `addr` ("host:port") and completes the TLS handshake. The host part is
    /// the name checked against the server certificate.
    pub fn connect(
        addr: &str,
        config: Arc<ClientConfig>,
        timeout: Duration,
    ) -> Result<KmipClient, ClientError> {
        let connect_err = |message: String| ClientError::Connect {
            addr: addr.to_string(),
            message,
        };
        let host = match addr.rsplit_once(':') {
            Some((host, _)) => host.trim_start_matches('[').trim_end_matches(']'),
            None => return Err(connect_err("expected HOST:PORT".into())),
        };
        let name =
            ServerName::try_from(host.to_string()).map_err(|e| connect_err(e.to_string()))?;
        let socket_addr = addr
            .to_socket_addrs()
            .map_err(|e| connect_err(e.to_string()))?
            .next()
            .ok_or_else(|| connect_err("no address".into()))?;
        let sock = TcpStream::connect_timeout(&socket_addr, timeout)
            .map_err(|e| connect_err(e.to_string()))?;
        sock.set_read_timeout(Some(timeout))?;
        sock.set_write_timeout(Some(timeout))?;
        sock.set_nodelay(true)?;
        let conn =
            ClientConnection::new(config, name).map_err(|e| ClientError::Tls(e.to_string()))?;
        let mut stream = StreamOwned::new(conn, sock);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(KmipClient {
            stream,
            limits: Limits::default(),
        })
    }

    /// Responses larger than this are refused before they are read.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Sends raw bytes (a framed request, or anything a test wants to send).
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes)?;
        self.stream.flush()?;
        Ok(())
    }

    /// Reads one framed response message, header included.
    pub fn receive(&mut self) -> Result<Vec<u8>, ClientError> {
        let mut message = vec![0u8; 8];
        self.stream.read_exact(&mut message)?;
        match inspect_header(&message, tag::RESPONSE_MESSAGE, &self.limits) {
            FrameStatus::Length(length) if length >= 8 => {
                message.resize(length, 0);
                self.stream.read_exact(&mut message[8..])?;
                Ok(message)
            }
            FrameStatus::TooLarge(length) => Err(ClientError::ResponseTooLarge(length)),
            _ => Err(ClientError::BadResponse),
        }
    }

    pub fn roundtrip(&mut self, request: &[u8]) -> Result<Vec<u8>, ClientError> {
        self.send(request)?;
        self.receive()
    }

    /// Sends close_notify and closes.
    pub fn close(mut self) {
        self.stream.conn.send_close_notify();
        let _ = self.stream.conn.complete_io(&mut self.stream.sock);
    }

    /// Sends close_notify and closes without waiting for anything from the server (a load
    /// generator must not time the server's reaction to a close, e.g. a TLS 1.3 session
    /// ticket still in flight).
    pub fn close_without_reading(mut self) {
        self.stream.conn.send_close_notify();
        while self.stream.conn.wants_write() {
            if self.stream.conn.write_tls(&mut self.stream.sock).is_err() {
                break;
            }
        }
    }
}
