public import Contracts
public import Crypto
import NIOCore
public import Foundation
public import LedgerCore
public import NIOSSL
import Ordering
import SwiftASN1
import X509

/// Mutual TLS between the organizations' nodes. Each node presents a certificate self-signed with
/// its organization's registered Ed25519 key (subject: the organization's id), made when the node
/// starts. Trust comes from the chain, never from a certificate authority or from etcd:
///
/// - a node's peer listener accepts a connection only from a certificate whose key is the current
///   signing key of an active organization in its own replica (`organization(presenting:in:)`);
/// - a node connects to another organization's node only if the certificate that node published
///   (`PeerDirectory`) holds that organization's current key in its replica, and then trusts that
///   certificate alone.
///
/// TLS 1.3 only, Ed25519 signatures only. Requests inside the connection are still signed with the
/// organization key (`PeerRequest`): the connection says which node is at the other end, the
/// signature what it asked for and when.
public struct PeerTLS: Sendable {
    /// The organization whose key this node's certificate holds.
    public let organization: IdentityID
    /// The certificate this node presents, DER.
    public let certificateDER: [UInt8]
    let certificate: NIOSSLCertificate
    let privateKey: NIOSSLPrivateKey

    /// How long a node's certificate is valid (it makes a new one each time it starts).
    public static let validityDays = 397

    /// The certificate of `organizationKeys`' organization, made now.
    public init(organizationKeys: IdentityKeys, chainId: String, now: Date = Date()) throws {
        try self.init(signingKey: organizationKeys.signing, organization: organizationKeys.derivedID, chainId: chainId, now: now)
    }

    /// A certificate naming `organization`, holding `signingKey` (which must be the organization's
    /// current registered key for any node to accept it).
    public init(signingKey: Curve25519.Signing.PrivateKey, organization: IdentityID, chainId: String, now: Date = Date()) throws {
        let key = Certificate.PrivateKey(signingKey)
        let name = try DistinguishedName {
            CommonName(organization.hex)
            OrganizationName("CareLedger node of chain \(chainId)")
        }
        let extensions = try Certificate.Extensions {
            // No KeyUsage: BoringSSL takes a self-signed certificate as its own trust anchor only when
            // its key usage allows certificate signing, which a node's certificate should not claim.
            Critical(BasicConstraints.notCertificateAuthority)
            try ExtendedKeyUsage([.serverAuth, .clientAuth])
        }
        let certificate = try Certificate(version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
                                          notValidBefore: now.addingTimeInterval(-3_600),
                                          notValidAfter: now.addingTimeInterval(Double(Self.validityDays) * 86_400),
                                          issuer: name, subject: name, signatureAlgorithm: .ed25519, extensions: extensions,
                                          issuerPrivateKey: key)
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        self.organization = organization
        certificateDER = serializer.serializedBytes
        self.certificate = try NIOSSLCertificate(bytes: certificateDER, format: .der)
        privateKey = NIOSSLPrivateKey(customPrivateKey: PeerSigningKey(key: signingKey, der: try key.serializeAsPEM().derBytes))
    }

    /// The peer listener's TLS: TLS 1.3, this node's certificate, a client certificate required
    /// (the listener checks it against the chain with `organization(presenting:in:)`).
    public var serverConfiguration: TLSConfiguration {
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: [.certificate(certificate)], privateKey: .privateKey(privateKey))
        Self.restrict(&tls)
        tls.certificateVerification = .noHostnameVerification
        return tls
    }

    /// A client's TLS to a peer that presents `peerCertificate` (already checked against the chain):
    /// that certificate is the only one trusted; this node's own certificate goes with the request.
    public func clientConfiguration(trusting peerCertificate: NIOSSLCertificate) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateChain = [.certificate(certificate)]
        tls.privateKey = .privateKey(privateKey)
        tls.trustRoots = .certificates([peerCertificate])
        Self.restrict(&tls)
        tls.certificateVerification = .noHostnameVerification
        return tls
    }

    static func restrict(_ tls: inout TLSConfiguration) {
        tls.minimumTLSVersion = .tlsv13
        tls.signingSignatureAlgorithms = [.ed25519]
        tls.verifySignatureAlgorithms = [.ed25519]
    }

    /// The organization a certificate names (its subject's common name) and the Ed25519 key it holds.
    public static func claimed(byCertificate der: [UInt8]) -> (organization: IdentityID, key: SigningPublicKey)? {
        guard let certificate = try? Certificate(derEncoded: der),
              let name = certificate.subject.lazy.flatMap({ $0 }).first(where: { $0.type == .RDNAttributeType.commonName }),
              let id = Hash256(hex: String(describing: name.value)),
              let ed25519 = Curve25519.Signing.PublicKey(certificate.publicKey),
              let key = SigningPublicKey(rawValue: Array(ed25519.rawRepresentation)) else { return nil }
        return (id, key)
    }

    /// The active organization whose current registered key a presented certificate chain's leaf
    /// holds, in `state` (this node's replica); nil if none — the connection is then refused.
    public static func organization(presenting certificates: [NIOSSLCertificate], in state: any StateReader) -> Identity? {
        guard let leaf = certificates.first, let der = try? leaf.toDERBytes(), let (id, key) = claimed(byCertificate: der),
              let identity = Directory.identity(id, in: state), identity.kind == .organization, !identity.revoked,
              identity.signingKey == key else { return nil }
        return identity
    }
}

/// The organization's Ed25519 key as TLS signs with it: swift-crypto signs the handshake (BoringSSL
/// hands the message over). A custom key, because NIOSSL cannot serialize a native Ed25519 key,
/// which it does to hash a TLS configuration (async-http-client keys its connection pools so).
struct PeerSigningKey: NIOSSLCustomPrivateKey, Hashable {
    let key: Curve25519.Signing.PrivateKey
    let der: [UInt8]

    var signatureAlgorithms: [SignatureAlgorithm] { [.ed25519] }
    var derBytes: [UInt8] { der }

    func sign(channel: any Channel, algorithm: SignatureAlgorithm, data: ByteBuffer) -> EventLoopFuture<ByteBuffer> {
        guard algorithm == .ed25519, let signature = try? key.signature(for: Array(buffer: data)) else {
            return channel.eventLoop.makeFailedFuture(PeerEndpoint.Refusal(description: "a node's TLS key signs Ed25519 only, not \(algorithm)"))
        }
        return channel.eventLoop.makeSucceededFuture(ByteBuffer(bytes: signature))
    }

    func decrypt(channel: any Channel, data: ByteBuffer) -> EventLoopFuture<ByteBuffer> {
        channel.eventLoop.makeFailedFuture(PeerEndpoint.Refusal(description: "a node's TLS key does not decrypt"))
    }

    static func == (lhs: Self, rhs: Self) -> Bool { lhs.key.publicKey.rawRepresentation == rhs.key.publicKey.rawRepresentation }
    func hash(into hasher: inout Hasher) { hasher.combine(key.publicKey.rawRepresentation) }
}

/// Where each organization's node listens for other nodes, as published in etcd under
/// `careledger/CHAIN/peer/ORGANIZATION`: its URL and, for `https`, the certificate it presents.
/// etcd is not trusted for the certificate: a client checks it against the organization's key in
/// its own replica before connecting (`tls(for:expecting:)`).
public struct PeerEndpoint: Sendable, Equatable {
    public let url: String
    /// The DER certificate the node presents (https only).
    public let certificateDER: [UInt8]?

    public init(url: String, certificateDER: [UInt8]?) { (self.url, self.certificateDER) = (url, certificateDER) }

    /// As stored: `{"url": …, "certificate": base64 DER}`.
    public var encoded: [UInt8] {
        var object: [String: String] = ["url": url]
        if let certificateDER { object["certificate"] = Base64.encode(certificateDER) }
        return Array((try? JSONSerialization.data(withJSONObject: object, options: .sortedKeys)) ?? Data())
    }

    /// A stored endpoint; a bare URL (what nodes published before mutual TLS) is read as one without certificate.
    public init?(decoding bytes: [UInt8]) {
        if bytes.first == UInt8(ascii: "{") {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any], let url = object["url"] as? String else { return nil }
            let certificate = (object["certificate"] as? String).flatMap(Base64.decode)
            guard object["certificate"] == nil || certificate != nil else { return nil }
            self.init(url: url, certificateDER: certificate)
        } else {
            guard let url = String(bytes: bytes, encoding: .utf8) else { return nil }
            self.init(url: url, certificateDER: nil)
        }
    }

    /// Why a peer cannot be connected to.
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    /// The TLS configuration for a request to this endpoint, which claims to be `organization`'s
    /// node whose current key in this replica is `key`: nil for plain `http` (only a node without
    /// `tls` may use one); for `https`, trusting exactly the published certificate, after checking
    /// that it names `organization` and holds `key`.
    public func tls(with own: PeerTLS?, organization: IdentityID, key: SigningPublicKey?) throws(Refusal) -> TLSConfiguration? {
        if url.hasPrefix("http://") {
            guard own == nil else { throw Refusal(description: "\(url) is plain HTTP; nodes of this consortium talk mutual TLS") }
            return nil
        }
        guard let own else { throw Refusal(description: "\(url) needs mutual TLS, and this node has no peer certificate") }
        guard let der = certificateDER, let (named, held) = PeerTLS.claimed(byCertificate: der),
              let certificate = try? NIOSSLCertificate(bytes: der, format: .der) else {
            throw Refusal(description: "organization \(organization.hex.prefix(12))… published no readable certificate")
        }
        guard named == organization, let key, held == key else {
            throw Refusal(description: "the certificate published for organization \(organization.hex.prefix(12))… does not hold its registered key")
        }
        return own.clientConfiguration(trusting: certificate)
    }
}
