import Console
import ArgumentParser
import Contracts
import Foundation
import LedgerCore
import Server
import Services

/// `careledger init`: a new data directory with genesis and keys.
struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a data directory: keys for each founding organization and the node, and the genesis block.",
        discussion: """
            Example: careledger init --data ./hospital-net --organization general-hospital:hospital --organization city-clinic:clinic
            With --dev-cert it also writes a self-signed TLS certificate for localhost, 127.0.0.1 and ::1 \
            (DATA/tls/dev-cert.pem, and its P-256 key DATA/tls/dev-key.pem, 0600), for \
            `careledger node --tls-cert … --tls-key …` during development only; clients must be told to trust it \
            (e.g. curl --cacert DATA/tls/dev-cert.pem). In production use a certificate from the hospital's PKI.
            """)

    @OptionGroup var options: DataOption
    @Option(help: "Chain id (1–64 bytes).") var chainId = "careledger-local"
    @Option(name: .customLong("organization"), help: "Founding organization as NAME[:TYPE], repeatable. The first is the administrator. Types: \(OrganizationType.allCases.map(\.rawValue).joined(separator: ", ")).")
    var organizations: [String] = ["operator:operator"]
    @Flag(help: "Keep private keys in the clear (throwaway directories only: anyone who copies the directory has them). Default: keys sealed with the passphrase.")
    var insecurePlainKeys = false
    @Flag(help: "Also write a self-signed development TLS certificate and key (tls/dev-cert.pem, tls/dev-key.pem) for localhost.")
    var devCert = false
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let directory = options.directory
        let specs = try organizations.map(OrganizationSpec.init(parsing:))
        let genesis = try directory.initialize(chainId: chainId, organizations: specs, insecurePlainKeys: insecurePlainKeys)
        let certificateExpiry = try devCert ? DevelopmentCertificate.write(certificate: directory.devCertificateURL, key: directory.devKeyURL) : nil
        if json {
            var report: [String: Any] = [
                "data": directory.path, "chainId": chainId, "genesisHash": genesis.hash.hex,
                "organizations": try specs.map { ["name": $0.name, "type": $0.type.rawValue, "id": try directory.loadKey($0.name).derivedID.hex] },
            ]
            if let certificateExpiry {
                report["devCertificate"] = ["certificate": directory.devCertificateURL.path, "key": directory.devKeyURL.path,
                                            "names": DevelopmentCertificate.names,
                                            "notValidAfter": ISO8601DateFormatter().string(from: certificateExpiry)]
            }
            Terminal.json(report)
        } else {
            Terminal.line("Initialized \(directory.path)")
            Terminal.line("  chain id      \(chainId)")
            Terminal.line("  genesis hash  \(genesis.hash.hex)")
            for spec in specs {
                Terminal.line("  organization  \(spec.name) (\(spec.type.rawValue)) \(try directory.loadKey(spec.name).derivedID.hex)")
            }
            Terminal.line("  keys          \(directory.keysURL.path) (0600, \(insecurePlainKeys ? "IN THE CLEAR: --insecure-plain-keys" : "sealed with the passphrase"))")
            if let certificateExpiry {
                Terminal.line("  TLS cert      \(directory.devCertificateURL.path) (self-signed, development only: "
                              + "\(DevelopmentCertificate.names.joined(separator: ", ")), until \(ISO8601DateFormatter().string(from: certificateExpiry)))")
                Terminal.line("  TLS key       \(directory.devKeyURL.path) (0600)")
                Terminal.line("  serve HTTPS   careledger node --data \(directory.path) --port 8443 "
                              + "--tls-cert \(directory.devCertificateURL.path) --tls-key \(directory.devKeyURL.path)")
            }
        }
    }
}
