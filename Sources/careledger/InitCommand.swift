import Console
import ArgumentParser
import Contracts
import Foundation
import LedgerCore
import Services

/// `careledger init`: a new data directory with genesis and keys.
struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a data directory: keys for each founding organization and the node, and the genesis block.",
        discussion: "Example: careledger init --data ./hospital-net --organization general-hospital:hospital --organization city-clinic:clinic")

    @OptionGroup var options: DataOption
    @Option(help: "Chain id (1–64 bytes).") var chainId = "careledger-local"
    @Option(name: .customLong("organization"), help: "Founding organization as NAME[:TYPE], repeatable. The first is the administrator. Types: \(OrganizationType.allCases.map(\.rawValue).joined(separator: ", ")).")
    var organizations: [String] = ["operator:operator"]
    @Flag(help: "Keep private keys in the clear (throwaway directories only: anyone who copies the directory has them). Default: keys sealed with the passphrase.")
    var insecurePlainKeys = false
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let directory = options.directory
        let specs = try organizations.map(OrganizationSpec.init(parsing:))
        let genesis = try directory.initialize(chainId: chainId, organizations: specs, insecurePlainKeys: insecurePlainKeys)
        if json {
            Terminal.json(["data": directory.path, "chainId": chainId, "genesisHash": genesis.hash.hex,
                           "organizations": try specs.map { ["name": $0.name, "type": $0.type.rawValue, "id": try directory.loadKey($0.name).derivedID.hex] }])
        } else {
            Terminal.line("Initialized \(directory.path)")
            Terminal.line("  chain id      \(chainId)")
            Terminal.line("  genesis hash  \(genesis.hash.hex)")
            for spec in specs {
                Terminal.line("  organization  \(spec.name) (\(spec.type.rawValue)) \(try directory.loadKey(spec.name).derivedID.hex)")
            }
            Terminal.line("  keys          \(directory.keysURL.path) (0600, \(insecurePlainKeys ? "IN THE CLEAR: --insecure-plain-keys" : "sealed with the passphrase"))")
        }
    }
}
