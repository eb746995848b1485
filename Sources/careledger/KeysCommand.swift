import Console
import ArgumentParser
import Contracts
import Foundation
import LedgerCore
import Node
import Services
import Storage

/// `careledger keys`: local key pairs and what the chain knows about them.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "List, create and show local key pairs (Ed25519 signing + X25519 agreement).",
        subcommands: [List.self, New.self, Show.self, Seal.self],
        defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List local keys and their on-chain identities.")
        @OptionGroup var options: DataOption
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let directory = options.directory
            try directory.requireInitialized()
            let store = try directory.openStore()
            var rows: [[String: Any]] = []
            for name in try directory.keyNames() {
                let keys = try directory.loadKey(name)
                rows.append(describe(name: name, keys: keys, state: StoreStateReader(store: store)))
            }
            if json { Terminal.json(["keys": rows]) } else {
                for row in rows {
                    Terminal.line("\(pad(row["name"] as! String, 18)) \(pad(row["kind"] as! String, 13)) \(row["id"] as! String)  \(row["roles"] as? String ?? "")")
                }
            }
        }
    }

    struct New: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a new key pair (not yet on chain: enroll or self-register it with `submit`).")
        @OptionGroup var options: DataOption
        @Argument(help: "Name of the key file (letters, digits, - _ .).") var name: String

        func run() async throws {
            let directory = options.directory
            try directory.requireInitialized()
            let keys = IdentityKeys.generate()
            try directory.saveKey(name, keys)
            Terminal.line("Created key \(name): id \(keys.derivedID.hex)")
        }
    }

    struct Seal: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Seal every key file that holds its private keys in the clear with the passphrase (scrypt + AES-256-GCM).",
            discussion: "For directories made before keys were sealed by default, or with --insecure-plain-keys. Run it with the node stopped.")
        @OptionGroup var options: DataOption
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let directory = options.directory
            try directory.requireInitialized()
            let lock = try directory.lock()
            defer { lock.release() }
            let sealed = try directory.sealKeys()
            if json { Terminal.json(["sealed": sealed]) } else {
                Terminal.line(sealed.isEmpty ? "Every key in \(directory.keysURL.path) was already sealed." :
                              "Sealed \(sealed.count) key file\(sealed.count == 1 ? "" : "s"): \(sealed.joined(separator: ", "))")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one key's public parts and on-chain identity.")
        @OptionGroup var options: DataOption
        @Argument(help: "Key name.") var name: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let directory = options.directory
            let store = try directory.openStore()
            let row = describe(name: name, keys: try directory.loadKey(name), state: StoreStateReader(store: store))
            if json { Terminal.json(row) } else {
                for key in row.keys.sorted() { Terminal.line("\(pad(key, 16)) \(row[key]!)") }
            }
        }
    }
}


/// Describes a key and, if registered, its identity.
func describe(name: String, keys: IdentityKeys, state: any StateReader) -> [String: Any] {
    var row: [String: Any] = [
        "name": name, "id": keys.derivedID.hex, "signingKey": Hex.encode(keys.signingPublicKey.rawValue),
        "agreementKey": Hex.encode(keys.agreementPublicKey), "kind": "unregistered",
    ]
    if let identity = Directory.identity(keys.derivedID, in: state) {
        row["kind"] = identity.kind.rawValue
        row["roles"] = identity.roles.map(\.rawValue).joined(separator: ",")
        row["revoked"] = identity.revoked
        row["keyVersion"] = identity.keyVersion
        if let org = identity.organization { row["organization"] = org.hex }
        if let type = identity.organizationType { row["organizationType"] = type.rawValue }
    } else if Directory.isOrderer(keys.signingPublicKey, in: state) {
        row["kind"] = "orderer"
    }
    return row
}
