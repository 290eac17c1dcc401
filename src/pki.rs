//! The appliance's own PKI: local CA, server certificate, issued client certificates.
//! (Stub: the server owner fills it in.)
