import Contracts
import Crypto
public import Foundation
public import LedgerCore
import Node
public import Storage
public import Vault
#if canImport(Glibc)
import Glibc
#endif

/// A key pair stored on disk as JSON with 0600 permissions; the private keys either in the clear
/// (base64) or sealed with a passphrase (scrypt + AES-256-GCM).
public struct StoredKey: Codable, Sendable {
    var name: String
    var id: String
    var signingPrivateKey: String?
    var agreementPrivateKey: String?
    /// Both private keys (64 bytes: signing ‖ agreement), sealed with a passphrase.
    var sealed: SealedSecret?

    /// Environment variable holding the passphrase of sealed key files.
    public static let passphraseVariable = "CARELEDGER_PASSPHRASE"

    public init(name: String, keys: IdentityKeys, passphrase: String? = nil, cost: ScryptCost = .standard) throws {
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

    public func identityKeys(passphrase: String?) throws -> IdentityKeys {
        var s: [UInt8]?, a: [UInt8]?
        if let sealed {
            guard let passphrase else {
                throw ServiceError("key \(name) is sealed with a passphrase; set \(Self.passphraseVariable)")
            }
            let secret = try PassphraseSeal.open(sealed, passphrase: passphrase)
            guard secret.count == 64 else { throw ServiceError("key file for \(name) is damaged") }
            s = Array(secret[0..<32])
            a = Array(secret[32...])
        } else {
            s = signingPrivateKey.flatMap(Base64.decode)
            a = agreementPrivateKey.flatMap(Base64.decode)
        }
        guard let s, let a, let signing = try? Curve25519Keys.signing(s), let agreement = try? Curve25519Keys.agreement(a),
              Hash256.sha256(Array(signing.publicKey.rawRepresentation)).hex == id else {
            throw ServiceError("key file for \(name) is damaged")
        }
        return IdentityKeys(signing: signing, agreement: agreement)
    }
}

/// The node settings kept in `node.json`.
public struct NodeSettings: Codable, Sendable {
    public var chainId: String
    /// Name of the key the node signs blocks with.
    public var nodeKey: String
    /// Name of the administrator identity (the first founding organization).
    public var administrator: String
    public var blockTransactionsMax: Int
    public var blockDelayMs: Int
}

/// The layout of a data directory: `ledger.sqlite`, `node.json`, `keys/NAME.json`, `LOCK`.
public struct DataDirectory: Sendable {
    public let url: URL

    public init(url: URL) { self.url = url }

    /// `--data`, else `$CARELEDGER_DATA`, else `./careledger-data`.
    public static func resolve(_ option: String?) -> DataDirectory {
        let path = option ?? ProcessInfo.processInfo.environment["CARELEDGER_DATA"] ?? "careledger-data"
        return DataDirectory(url: URL(fileURLWithPath: path).standardizedFileURL)
    }

    public var path: String { url.path }
    public var ledgerPath: String { url.appendingPathComponent("ledger.sqlite").path }
    public var settingsURL: URL { url.appendingPathComponent("node.json") }
    public var keysURL: URL { url.appendingPathComponent("keys") }
    public var vaultPath: String { url.appendingPathComponent("vault.sqlite").path }
    /// Client assertions the node's token endpoint accepted, kept until they expire (no PHI).
    public var usedAssertionsPath: String { url.appendingPathComponent("assertions.sqlite").path }

    public var exists: Bool { FileManager.default.fileExists(atPath: settingsURL.path) }

    public func requireInitialized() throws {
        guard exists else {
            throw ServiceError("no CareLedger data in \(path); run `careledger init --data \(path)` first")
        }
    }

    public func settings() throws -> NodeSettings {
        try requireInitialized()
        return try JSONDecoder().decode(NodeSettings.self, from: Data(contentsOf: settingsURL))
    }

    public func write(settings: NodeSettings) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(settings).write(to: settingsURL, options: .atomic)
    }

    public func openStore() throws -> SQLiteLedgerStore {
        try requireInitialized()
        return try SQLiteLedgerStore(path: ledgerPath)
    }

    // MARK: keys

    /// Names are file names: letters, digits, '-', '_' and '.'; 1…64 characters.
    public static func checkName(_ name: String) throws {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard !name.isEmpty, name.count <= 64, !name.hasPrefix("."), name.unicodeScalars.allSatisfy(allowed.contains) else {
            throw ServiceError("invalid name “\(name)”: use 1–64 letters, digits, '-', '_' or '.'")
        }
    }

    public func keyURL(_ name: String) -> URL { keysURL.appendingPathComponent("\(name).json") }

    public func saveKey(_ name: String, _ keys: IdentityKeys, passphrase: String? = nil) throws {
        try Self.checkName(name)
        try FileManager.default.createDirectory(at: keysURL, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let url = keyURL(name)
        guard !FileManager.default.fileExists(atPath: url.path) else { throw ServiceError("a key named \(name) already exists") }
        let data = try JSONEncoder().encode(try StoredKey(name: name, keys: keys, passphrase: passphrase))
        // Create with 0600 before writing, so the private key is never readable by others.
        guard FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw ServiceError("cannot create \(url.path)")
        }
        let handle = try FileHandle(forWritingTo: url)
        try handle.write(contentsOf: data)
        try handle.synchronize()
        try handle.close()
    }

    public func loadKey(_ name: String) throws -> IdentityKeys {
        try Self.checkName(name)
        let url = keyURL(name)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ServiceError("no key named \(name) in \(keysURL.path) (see `careledger keys list`)")
        }
        let stored: StoredKey
        do { stored = try JSONDecoder().decode(StoredKey.self, from: data) } catch { throw ServiceError("key file for \(name) is damaged") }
        return try stored.identityKeys(passphrase: ProcessInfo.processInfo.environment[StoredKey.passphraseVariable])
    }

    /// An identity given as a local key name or a 64-hex id.
    public func identityID(_ text: String) throws -> IdentityID {
        if let id = Hash256(hex: text), text.count == 64 { return id }
        return try loadKey(text).derivedID
    }

    public func keyNames() throws -> [String] {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: keysURL.path) else { return [] }
        return files.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }

    // MARK: lock

    /// Takes the exclusive writer lock; fails at once if another process holds it.
    public func lock() throws -> DirectoryLock {
        let path = url.appendingPathComponent("LOCK").path
        let fd = open(path, O_RDWR | O_CREAT, 0o600)
        guard fd >= 0 else { throw ServiceError("cannot open \(path)") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            throw ServiceError("\(self.path) is in use by another careledger process (pid \(holder)); stop it or use another --data")
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { Glibc.write(fd, $0, strlen($0)) }
        return DirectoryLock(fd: fd)
    }
}

/// Holds an flock until released or the process exits.
public final class DirectoryLock: @unchecked Sendable {
    private var fd: Int32
    init(fd: Int32) { self.fd = fd }
    public func release() {
        if fd >= 0 { flock(fd, LOCK_UN); close(fd); fd = -1 }
    }
    deinit { release() }
}

/// Keeps keys generated for patients registered through FHIR in the data directory (0600 files,
/// passphrase-sealed when CARELEDGER_PASSPHRASE is set), named `patient-<first 16 hex of id>`.
public struct DirectoryPatientKeys: PatientKeyStore {
    public let directory: DataDirectory

    public init(directory: DataDirectory) { self.directory = directory }

    public func save(_ keys: IdentityKeys) throws {
        try directory.saveKey("patient-\(keys.derivedID.hex.prefix(16))", keys,
                              passphrase: ProcessInfo.processInfo.environment[StoredKey.passphraseVariable])
    }

    public func keys(of id: IdentityID) -> IdentityKeys? {
        guard let keys = try? directory.loadKey("patient-\(id.hex.prefix(16))"), keys.derivedID == id else { return nil }
        return keys
    }
}
