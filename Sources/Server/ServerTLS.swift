#if canImport(Glibc)
import Glibc
#endif
import Crypto
public import Foundation
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
import SwiftASN1
import X509

/// Why the node cannot serve HTTPS with the files it was given; the message names the file and the fix.
public struct TLSSetupError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// TLS for the node's HTTP server (`careledger node --tls-cert PATH --tls-key PATH`): a PEM certificate
/// chain (the server's certificate first) and the unencrypted PEM private key that belongs to it, both
/// read and checked before the node serves anything. TLS 1.2 is the lowest version offered.
public struct ServerTLS: Sendable {
    public let certificatePath: String
    public let keyPath: String
    /// The server certificate's subject, e.g. `CN=localhost`.
    public let subject: String
    /// When the server certificate expires.
    public let notValidAfter: Date
    /// Problems worth a warning that do not stop the node (a key file others can read).
    public let warnings: [String]
    let configuration: TLSConfiguration

    /// PEM discriminators of the private keys the node reads (PKCS #8, SEC 1 EC, PKCS #1 RSA).
    static let keyDiscriminators: Set<String> = ["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"]

    /// Reads and checks `certificate` (PEM chain) and `key` (PEM private key): each must exist and be
    /// readable, hold what it should, the key must belong to the first certificate, and that
    /// certificate must not have expired. `now` is when "expired" is judged.
    public static func load(certificate certificatePath: String, key keyPath: String, now: Date = Date()) throws(TLSSetupError) -> ServerTLS {
        let certificateText = try readPEMFile(certificatePath, what: "TLS certificate", option: "--tls-cert")
        let keyText = try readPEMFile(keyPath, what: "TLS private key", option: "--tls-key")

        let certificateDocuments = try pemDocuments(certificateText, path: certificatePath, what: "certificate")
        let certificates: [Certificate]
        do {
            certificates = try certificateDocuments.filter { $0.discriminator == "CERTIFICATE" }.map { try Certificate(pemDocument: $0) }
        } catch {
            throw TLSSetupError("\(certificatePath) (--tls-cert): a CERTIFICATE block is damaged: \(error)")
        }
        guard let leaf = certificates.first else {
            if certificateDocuments.contains(where: { keyDiscriminators.contains($0.discriminator) || $0.discriminator == "ENCRYPTED PRIVATE KEY" }) {
                throw TLSSetupError("\(certificatePath) (--tls-cert) holds a private key, not a certificate: are --tls-cert and --tls-key swapped?")
            }
            throw TLSSetupError("\(certificatePath) (--tls-cert) holds no PEM certificate (a -----BEGIN CERTIFICATE----- block)")
        }

        let keyDocuments = try pemDocuments(keyText, path: keyPath, what: "private key")
        if keyDocuments.contains(where: { $0.discriminator == "ENCRYPTED PRIVATE KEY" }) {
            throw TLSSetupError("\(keyPath) (--tls-key) is encrypted with a passphrase; the node reads an unencrypted PEM key "
                                + "(decrypt it, e.g. `openssl pkey -in KEY -out KEY.pem`, and keep it mode 0600)")
        }
        let keyBlocks = keyDocuments.filter { keyDiscriminators.contains($0.discriminator) }
        guard keyBlocks.count == 1, let keyDocument = keyBlocks.first else {
            if keyBlocks.count > 1 { throw TLSSetupError("\(keyPath) (--tls-key) holds \(keyBlocks.count) private keys; give it exactly one") }
            if keyDocuments.contains(where: { $0.discriminator == "CERTIFICATE" }) {
                throw TLSSetupError("\(keyPath) (--tls-key) holds a certificate, not a private key: are --tls-cert and --tls-key swapped?")
            }
            throw TLSSetupError("\(keyPath) (--tls-key) holds no PEM private key (a -----BEGIN PRIVATE KEY----- block)")
        }
        let privateKey: Certificate.PrivateKey
        do { privateKey = try Certificate.PrivateKey(pemDocument: keyDocument) } catch {
            throw TLSSetupError("\(keyPath) (--tls-key): the \(keyDocument.discriminator) is damaged or of an unsupported type "
                                + "(P-256, P-384, P-521, RSA and Ed25519 keys are read): \(error)")
        }
        guard privateKey.publicKey == leaf.publicKey else {
            throw TLSSetupError("the private key in \(keyPath) does not belong to the certificate in \(certificatePath) "
                                + "(their public keys differ): give the key the certificate was issued for")
        }
        guard leaf.notValidAfter > now else {
            throw TLSSetupError("the certificate in \(certificatePath) expired on \(ISO8601DateFormatter().string(from: leaf.notValidAfter)); "
                                + "renew it (a development certificate: run `careledger init --dev-cert` on a new data directory)")
        }

        var warnings: [String] = []
        if leaf.notValidBefore > now {
            warnings.append("the certificate in \(certificatePath) is not valid before \(ISO8601DateFormatter().string(from: leaf.notValidBefore)); "
                            + "clients will refuse it until then (check the clock)")
        }
        if let mode = (try? FileManager.default.attributesOfItem(atPath: keyPath))?[.posixPermissions] as? Int, mode & 0o077 != 0 {
            warnings.append("\(keyPath) can be read by other users (mode \(String(mode & 0o777, radix: 8))); chmod 600 it")
        }

        let configuration: TLSConfiguration
        do {
            let chain = try certificates.map { certificate in
                var serializer = DER.Serializer()
                try serializer.serialize(certificate)
                return NIOSSLCertificateSource.certificate(try NIOSSLCertificate(bytes: serializer.serializedBytes, format: .der))
            }
            let key = try NIOSSLPrivateKey(bytes: Array(keyDocument.pemString.utf8), format: .pem)
            var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            tls.minimumTLSVersion = .tlsv12
            // Build a context once now, so that anything BoringSSL refuses is reported before serving.
            _ = try NIOSSLContext(configuration: tls)
            configuration = tls
        } catch {
            throw TLSSetupError("cannot serve TLS with \(certificatePath) and \(keyPath): \(error)")
        }
        return ServerTLS(certificatePath: certificatePath, keyPath: keyPath, subject: leaf.subject.description,
                         notValidAfter: leaf.notValidAfter, warnings: warnings, configuration: configuration)
    }

    /// The text of a PEM file, or an error naming the file, the option and what is wrong with it.
    static func readPEMFile(_ path: String, what: String, option: String) throws(TLSSetupError) -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TLSSetupError("no \(what) at \(path) (\(option))")
        }
        guard !isDirectory.boolValue else { throw TLSSetupError("\(path) (\(option)) is a directory; give the \(what)'s PEM file") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TLSSetupError("cannot read the \(what) \(path) (\(option)): \(String(cString: strerror(access(path, R_OK) == 0 ? EIO : errno)))")
        }
        guard data.count <= 1 << 20 else { throw TLSSetupError("\(path) (\(option)) is \(data.count) bytes; a PEM \(what) is far smaller") }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TLSSetupError("\(path) (\(option)) is not PEM text (a DER file? convert it with `openssl x509 -inform der` or `openssl pkey -inform der`)")
        }
        return text
    }

    /// The PEM blocks in `text`, or an error naming the file.
    static func pemDocuments(_ text: String, path: String, what: String) throws(TLSSetupError) -> [PEMDocument] {
        guard text.contains("-----BEGIN ") else { throw TLSSetupError("\(path) holds no PEM \(what) (no -----BEGIN line)") }
        do { return try PEMDocument.parseMultiple(pemString: text) } catch {
            throw TLSSetupError("\(path) is not valid PEM (a damaged \(what)?): \(error)")
        }
    }
}

/// A self-signed certificate for `localhost`, `127.0.0.1` and `::1`, for development only
/// (`careledger init --dev-cert`): an ECDSA P-256 key, valid for `validityDays`, not a CA.
public enum DevelopmentCertificate {
    public static let validityDays = 365
    public static let names = ["localhost", "127.0.0.1", "::1"]

    /// A new certificate and its key, both PEM.
    public static func make(now: Date = Date()) throws -> (certificatePEM: String, keyPEM: String) {
        let key = P256.Signing.PrivateKey()
        let issuerKey = Certificate.PrivateKey(key)
        let name = try DistinguishedName {
            CommonName("localhost")
            OrganizationName("CareLedger development certificate")
        }
        let extensions = try Certificate.Extensions {
            // No KeyUsage extension: BoringSSL (swift-nio-ssl's clients) takes a self-signed certificate as its own
            // trust anchor only when its key usage allows certificate signing, which a server certificate should not claim.
            Critical(BasicConstraints.notCertificateAuthority)
            try ExtendedKeyUsage([.serverAuth])
            SubjectAlternativeNames([
                .dnsName("localhost"),
                .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
                .ipAddress(ASN1OctetString(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1]))),
            ])
        }
        let certificate = try Certificate(version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: issuerKey.publicKey,
                                          notValidBefore: now.addingTimeInterval(-300),
                                          notValidAfter: now.addingTimeInterval(Double(validityDays) * 86_400),
                                          issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
                                          extensions: extensions, issuerPrivateKey: issuerKey)
        return (try certificate.serializeAsPEM().pemString + "\n", key.pemRepresentation + "\n")
    }

    /// Makes a certificate and writes it to `certificate` (0644) and its key to `key` (created 0600 before
    /// anything is written); refuses to replace either file. Returns when the certificate expires.
    @discardableResult
    public static func write(certificate: URL, key: URL, now: Date = Date()) throws -> Date {
        for url in [certificate, key] where FileManager.default.fileExists(atPath: url.path) {
            throw TLSSetupError("\(url.path) already exists; remove it first to make a new development certificate")
        }
        for folder in Set([certificate.deletingLastPathComponent(), key.deletingLastPathComponent()]) {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let (certificatePEM, keyPEM) = try make(now: now)
        try writeNew(key, Data(keyPEM.utf8), mode: 0o600)
        try writeNew(certificate, Data(certificatePEM.utf8), mode: 0o644)
        return now.addingTimeInterval(Double(validityDays) * 86_400)
    }

    /// Creates `url` with `mode` (O_EXCL, so an existing file is never replaced) and writes `data`.
    static func writeNew(_ url: URL, _ data: Data, mode: mode_t) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL, mode)
        guard fd >= 0 else { throw TLSSetupError("cannot create \(url.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // The umask may have narrowed the mode; a key must be exactly 0600, a certificate 0644.
        fchmod(fd, mode)
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == data.count, fsync(fd) == 0 else { throw TLSSetupError("cannot write \(url.path): \(String(cString: strerror(errno)))") }
    }
}

extension LedgerServer {
    /// HTTP/1.1 with `configuration`, behind TLS (HummingbirdTLS's `TLSChannel`) when `tls` is set.
    static func serverBuilder(_ configuration: HTTP1Channel.Configuration, tls: ServerTLS?) -> HTTPServerBuilder {
        guard let tls else { return .http1(configuration: configuration) }
        return HTTPServerBuilder { responder in
            try TLSChannel(HTTP1Channel(responder: responder, configuration: configuration), tlsConfiguration: tls.configuration)
        }
    }
}
