//! A throwaway PKI for TLS receivers: a CA, a server certificate for 127.0.0.1/localhost and
//! a client certificate (mutual TLS), all signed by the CA and generated per test run.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

#[derive(Debug, Clone)]
pub struct Pki {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    /// Client certificate and key in one PEM (as the sink's `client_identity` secret holds it).
    pub client_identity_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

pub fn generate() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Vigil throwaway test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, ca_key).unwrap();

    let srv_key = KeyPair::generate().unwrap();
    let mut srv =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    srv.distinguished_name.push(DnType::CommonName, "localhost");
    srv.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    srv.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let srv_cert = srv.signed_by(&srv_key, &ca).unwrap();

    let cli_key = KeyPair::generate().unwrap();
    let mut cli = CertificateParams::new(vec!["vigil-forwarder".to_owned()]).unwrap();
    cli.distinguished_name
        .push(DnType::CommonName, "vigil-forwarder");
    cli.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    cli.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let cli_cert = cli.signed_by(&cli_key, &ca).unwrap();

    Pki {
        ca_pem: ca.pem(),
        server_cert_pem: srv_cert.pem(),
        server_key_pem: srv_key.serialize_pem(),
        client_identity_pem: format!("{}{}", cli_cert.pem(), cli_key.serialize_pem()),
        client_cert_pem: cli_cert.pem(),
        client_key_pem: cli_key.serialize_pem(),
    }
}
