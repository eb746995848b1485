import Contracts
import Crypto
import Foundation
import LedgerCore
import Node
import Storage
import Vault
#if canImport(Glibc)
import Glibc
#endif

/// Errors of the CLI's own operations, each with the message a user sees.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A key pair stored on disk as JSON with 0600 permissions; the private keys either in the clear
/// (base64) or sealed with a passphrase (scrypt + AES-256-GCM).
struct StoredKey: Codable {
    var name: String
    var id: String
    var signingPrivateKey: String?
    var agreementPrivateKey: String?
    /// Both private keys (64 bytes: signing ‖ agreement), sealed with a passphrase.
    var sealed: SealedSecret?

    /// Environment variable holding the passphrase of sealed key files.
    static let passphraseVariable = "CARELEDGER_PASSPHRASE"

    init(name: String, keys: IdentityKeys, passphrase: String? = nil, cost: ScryptCost = .standard) throws {
        self.name = name
        self.id = keys.derivedID.hex
        let signing = Array(keys.signing.rawRepresentation), agreement = Array(keys.agreement.rawRepresentation)
        if let passphrase {
            sealed = try PassphraseSeal.seal(signing + agreement, passphrase: passphrase, cost: cost)
        } else {
            signingPrivateKey = Base64.encode(signing)
            agreementPrivateKey = Base64.encode(agreement)
        }
    }

    func identityKeys(passphrase: String?) throws -> IdentityKeys {
        var s: [UInt8]?, a: [UInt8]?
        if let sealed {
            guard let passphrase else {
                throw CLIError("key \(name) is sealed with a passphrase; set \(Self.passphraseVariable)")
            }
            let secret = try PassphraseSeal.open(sealed, passphrase: passphrase)
            guard secret.count == 64 else { throw CLIError("key file for \(name) is damaged") }
            s = Array(secret[0..<32])
            a = Array(secret[32...])
        } else {
            s = signingPrivateKey.flatMap(Base64.decode)
            a = agreementPrivateKey.flatMap(Base64.decode)
        }
        guard let s, let a, let signing = try? Curve25519Keys.signing(s), let agreement = try? Curve25519Keys.agreement(a),
              Hash256.sha256(Array(signing.publicKey.rawRepresentation)).hex == id else {
            throw CLIError("key file for \(name) is damaged")
        }
        return IdentityKeys(signing: signing, agreement: agreement)
    }
}

/// The node settings kept in `node.json`.
struct NodeSettings: Codable {
    var chainId: String
    /// Name of the key the node signs blocks with.
    var nodeKey: String
    /// Name of the administrator identity (the first founding organization).
    var administrator: String
    var blockTransactionsMax: Int
    var blockDelayMs: Int
}

/// The layout of a data directory: `ledger.sqlite`, `node.json`, `keys/NAME.json`, `LOCK`.
struct DataDirectory {
    let url: URL

    /// `--data`, else `$CARELEDGER_DATA`, else `./careledger-data`.
    static func resolve(_ option: String?) -> DataDirectory {
        let path = option ?? ProcessInfo.processInfo.environment["CARELEDGER_DATA"] ?? "careledger-data"
        return DataDirectory(url: URL(fileURLWithPath: path).standardizedFileURL)
    }

    var path: String { url.path }
    var ledgerPath: String { url.appendingPathComponent("ledger.sqlite").path }
    var settingsURL: URL { url.appendingPathComponent("node.json") }
    var keysURL: URL { url.appendingPathComponent("keys") }
    var vaultPath: String { url.appendingPathComponent("vault.sqlite").path }

    var exists: Bool { FileManager.default.fileExists(atPath: settingsURL.path) }

    func requireInitialized() throws {
        guard exists else {
            throw CLIError("no CareLedger data in \(path); run `careledger init --data \(path)` first")
        }
    }

    func settings() throws -> NodeSettings {
        try requireInitialized()
        return try JSONDecoder().decode(NodeSettings.self, from: Data(contentsOf: settingsURL))
    }

    func write(settings: NodeSettings) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(settings).write(to: settingsURL, options: .atomic)
    }

    func openStore() throws -> SQLiteLedgerStore {
        try requireInitialized()
        return try SQLiteLedgerStore(path: ledgerPath)
    }

    // MARK: keys

    /// Names are file names: letters, digits, '-', '_' and '.'; 1…64 characters.
    static func checkName(_ name: String) throws {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard !name.isEmpty, name.count <= 64, !name.hasPrefix("."), name.unicodeScalars.allSatisfy(allowed.contains) else {
            throw CLIError("invalid name “\(name)”: use 1–64 letters, digits, '-', '_' or '.'")
        }
    }

    func keyURL(_ name: String) -> URL { keysURL.appendingPathComponent("\(name).json") }

    func saveKey(_ name: String, _ keys: IdentityKeys, passphrase: String? = nil) throws {
        try Self.checkName(name)
        try FileManager.default.createDirectory(at: keysURL, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let url = keyURL(name)
        guard !FileManager.default.fileExists(atPath: url.path) else { throw CLIError("a key named \(name) already exists") }
        let data = try JSONEncoder().encode(try StoredKey(name: name, keys: keys, passphrase: passphrase))
        // Create with 0600 before writing, so the private key is never readable by others.
        guard FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw CLIError("cannot create \(url.path)")
        }
        let handle = try FileHandle(forWritingTo: url)
        try handle.write(contentsOf: data)
        try handle.synchronize()
        try handle.close()
    }

    func loadKey(_ name: String) throws -> IdentityKeys {
        try Self.checkName(name)
        let url = keyURL(name)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw CLIError("no key named \(name) in \(keysURL.path) (see `careledger keys list`)")
        }
        let stored: StoredKey
        do { stored = try JSONDecoder().decode(StoredKey.self, from: data) } catch { throw CLIError("key file for \(name) is damaged") }
        return try stored.identityKeys(passphrase: ProcessInfo.processInfo.environment[StoredKey.passphraseVariable])
    }

    func keyNames() throws -> [String] {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: keysURL.path) else { return [] }
        return files.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }

    // MARK: lock

    /// Takes the exclusive writer lock; fails at once if another process holds it.
    func lock() throws -> DirectoryLock {
        let path = url.appendingPathComponent("LOCK").path
        let fd = open(path, O_RDWR | O_CREAT, 0o600)
        guard fd >= 0 else { throw CLIError("cannot open \(path)") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            throw CLIError("\(self.path) is in use by another careledger process (pid \(holder)); stop it or use another --data")
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { Glibc.write(fd, $0, strlen($0)) }
        return DirectoryLock(fd: fd)
    }
}

/// Holds an flock until released or the process exits.
final class DirectoryLock {
    private var fd: Int32
    init(fd: Int32) { self.fd = fd }
    func release() {
        if fd >= 0 { flock(fd, LOCK_UN); close(fd); fd = -1 }
    }
    deinit { release() }
}
