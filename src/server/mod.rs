//! The mio event loop: TCP + rustls, framing, dispatch, group commit. (Stub.)
