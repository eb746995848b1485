import Contracts
import Crypto
public import Foundation
public import LedgerCore
import Node
public import Storage
import Synchronization
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
    /// Environment variable lowering scrypt's cost for keys sealed from now on (log2 N, 10…20;
    /// default 15): for test machines only — each sealed file records its own cost.
    public static let costVariable = "CARELEDGER_KEY_SCRYPT_LOGN"

    /// Whether the file holds its private keys in the clear.
    public var isPlain: Bool { sealed == nil }

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

extension StoredKey {
    /// Largest key file accepted from outside the data directory (a browser upload): a key file is
    /// about 500 bytes.
    public static let uploadedBytesMax = 8 << 10
    /// Costliest scrypt a key file from outside may ask for: the standard cost (N = 2^15, r = 8,
    /// p = 1, 32 MiB). A file naming more is refused before any work, so an upload cannot make the
    /// node spend up to a GiB of memory (the most `PassphraseSeal` accepts from its own files).
    public static let uploadedCostMax = ScryptCost.standard

    /// Opens a key file that arrived from outside (the portal's sign-in): at most
    /// `uploadedBytesMax` bytes, sealed at no more than `uploadedCostMax` or plain, and holding
    /// the keys its `id` names. Wrong passphrase, damage and malformed files are all `.invalid`.
    public static func openUploaded(_ bytes: [UInt8], passphrase: String?) throws(ServiceError) -> IdentityKeys {
        guard bytes.count <= uploadedBytesMax else { throw ServiceError("the key file is larger than \(uploadedBytesMax) bytes") }
        guard let stored = try? JSONDecoder().decode(StoredKey.self, from: Data(bytes)) else {
            throw ServiceError("this is not a CareLedger key file (keys/NAME.json)")
        }
        if let sealed = stored.sealed {
            guard sealed.logN <= uploadedCostMax.logN, sealed.r <= uploadedCostMax.r, sealed.p <= uploadedCostMax.p else {
                throw ServiceError("the key file is sealed at a higher scrypt cost than \(uploadedCostMax.logN)/\(uploadedCostMax.r)/\(uploadedCostMax.p)")
            }
            guard let passphrase, !passphrase.isEmpty else { throw ServiceError("the key file is sealed: give its passphrase") }
        }
        do { return try stored.identityKeys(passphrase: passphrase) } catch {
            throw ServiceError(stored.sealed == nil ? "the key file is damaged" : "the passphrase does not open this key file, or it is damaged")
        }
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
    /// True only for a directory made with `--insecure-plain-keys`: its key files hold private
    /// keys in the clear. Otherwise every key file is sealed with the passphrase.
    public var plainKeys: Bool?
    /// True for a directory made since FHIR record ids are keyed (2026-12-05): it holds no record
    /// under an unkeyed id, so a lookup never falls back to one (`FHIRRecordIDs.legacyIDs`).
    public var keyedRecordIDsOnly: Bool?
    /// The version of the search index the vault holds (`FHIRIndexer.version`); nil: version 1,
    /// from before the standard's search parameters (2026-12-06). An older one is rebuilt on open.
    public var searchIndexVersion: Int?
    /// Set for one organization's node in a consortium: its blocks are ordered through etcd and
    /// it attests them with the organization's key. Nil: a single embedded node.
    public var consortium: ConsortiumSettings?
    /// Name of the key that seals blocks, when it is not `nodeKey`: in a consortium every node
    /// seals with one shared key (so all build the same blocks), while `nodeKey` — tokens, the
    /// blind index, record ids — stays the node's own.
    public var sealingKey: String?
}

/// How a consortium node reaches the ordering service and which organization it runs for.
public struct ConsortiumSettings: Codable, Sendable {
    /// etcd client URLs (any member; the client fails over between them).
    public var etcdEndpoints: [String]
    /// This node's name in the ordering log; unique in the consortium.
    public var nodeName: String
    /// Key name of the organization whose node this is: it attests blocks with that key.
    public var organization: String
    /// Where the other organizations' nodes reach this one (private payloads, blocks, records):
    /// its peer listener's base URL, published in etcd at start with the node's certificate; nil:
    /// this node serves none to them.
    public var peerURL: String?
    /// The port of this node's peer listener: HTTPS with mutual TLS (`PeerTLS`), serving only the
    /// node-to-node routes, which the public port then no longer serves. nil: no peer listener, and
    /// no mutual TLS (plain-HTTP peers; only single-process tests configure that).
    public var peerPort: Int?
    /// Blocks between checkpoint snapshots (nil: `CheckpointSettings.defaultIntervalBlocks`, 1,000).
    /// Every node of a consortium should use the same: a new node takes a snapshot only at a height
    /// a quorum of organizations signed.
    public var checkpointBlocks: UInt64?
    /// Whether a node whose store holds only the genesis block joins from a certified snapshot
    /// (nil: yes); false replays the chain from genesis.
    public var joinFromSnapshot: Bool?
    /// Least time between two batches this node puts in etcd while its last one is not committed,
    /// in ms (nil: `defaultBatchDelayMs`; never below the node's `blockDelayMs`); a node that
    /// committed every batch it put sends the next at once. Each batch is a block on every node.
    public var batchDelayMs: Int?
    public static let defaultBatchDelayMs = 50
    /// Blocks of the shared log kept in etcd behind the final height (nil: `defaultLogRetentionBlocks`;
    /// 0: never retired). Each node deletes the batches further back (every node's), and the
    /// attestations and old checkpoint statements there, and compacts etcd's history: etcd holds
    /// a window of the log, not all of it. A node further behind catches up from its peers.
    public var logRetentionBlocks: UInt64?
    /// 500 blocks: at most 500 × 1.4 MB (`EtcdOrderer.batchBytesMax`) of batches per node would
    /// fill etcd's default 2 GiB quota only with several nodes writing full batches; typically a
    /// few MB.
    public static let defaultLogRetentionBlocks: UInt64 = 500

    public init(etcdEndpoints: [String], nodeName: String, organization: String, peerURL: String? = nil, peerPort: Int? = nil,
                checkpointBlocks: UInt64? = nil, joinFromSnapshot: Bool? = nil, logRetentionBlocks: UInt64? = nil) {
        (self.etcdEndpoints, self.nodeName, self.organization, self.peerURL, self.peerPort) = (etcdEndpoints, nodeName, organization, peerURL, peerPort)
        (self.checkpointBlocks, self.joinFromSnapshot, self.logRetentionBlocks) = (checkpointBlocks, joinFromSnapshot, logRetentionBlocks)
    }
}

/// Private keys opened this process, by key file path and sealed contents, so a passphrase-sealed
/// file costs one scrypt derivation per process, not one per use.
private let openedKeys = Mutex<[String: (contents: Data, keys: IdentityKeys)]>([:])
/// Passphrases typed at a prompt this process, by data directory.
private let promptedPassphrase = Mutex<[String: String?]>([:])

/// The layout of a data directory: `ledger.sqlite`, `node.json`, `keys/NAME.json`, `LOCK`, and with
/// `init --dev-cert` `tls/dev-cert.pem` and `tls/dev-key.pem`.
public struct DataDirectory: Sendable {
    public let url: URL
    /// The passphrase key files are sealed with (nil: not given; a sealed key then cannot be
    /// opened, nor a new key saved, unless the directory keeps plain keys).
    public var passphrase: String?
    /// scrypt's cost for keys sealed from now on.
    public var keyCost: ScryptCost
    /// Asks for the passphrase when none was given and one is needed (a terminal prompt); asked once a process.
    public var prompt: (@Sendable (_ confirm: Bool) -> String?)?

    /// The passphrase, asking `prompt` (once a process) if none was given.
    func resolvedPassphrase(confirm: Bool = false) -> String? {
        if let passphrase { return passphrase }
        guard let prompt else { return nil }
        return promptedPassphrase.withLock { cached in
            if let cached = cached[path] { return cached }
            let answer = prompt(confirm).flatMap { $0.isEmpty ? nil : $0 }
            cached[path] = answer
            return answer
        }
    }

    /// A directory; the passphrase and cost default to `CARELEDGER_PASSPHRASE` and
    /// `CARELEDGER_KEY_SCRYPT_LOGN`.
    public init(url: URL, passphrase: String? = ProcessInfo.processInfo.environment[StoredKey.passphraseVariable]) {
        self.url = url
        self.passphrase = passphrase.flatMap { $0.isEmpty ? nil : $0 }
        let logN = ProcessInfo.processInfo.environment[StoredKey.costVariable].flatMap(Int.init).map { min(20, max(10, $0)) }
        keyCost = logN.map { ScryptCost(logN: $0, r: 8, p: 1) } ?? .standard
    }

    /// `--data`, else `$CARELEDGER_DATA`, else `./careledger-data`.
    public static func resolve(_ option: String?) -> DataDirectory {
        let path = option ?? ProcessInfo.processInfo.environment["CARELEDGER_DATA"] ?? "careledger-data"
        return DataDirectory(url: URL(fileURLWithPath: path).standardizedFileURL)
    }

    /// Reads the passphrase from the first line of `file` (a secrets mount, say).
    public mutating func readPassphrase(from file: String) throws {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw ServiceError("cannot read the passphrase file \(file)") }
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard !line.isEmpty else { throw ServiceError("the passphrase file \(file) is empty") }
        passphrase = line
    }

    /// Why no key can be sealed or opened without a passphrase, and what to do.
    var passphraseMissing: ServiceError {
        ServiceError("key files in \(path) are sealed with a passphrase: set \(StoredKey.passphraseVariable) or pass --passphrase-file FILE")
    }

    public var path: String { url.path }
    public var ledgerPath: String { url.appendingPathComponent("ledger.sqlite").path }
    public var settingsURL: URL { url.appendingPathComponent("node.json") }
    public var keysURL: URL { url.appendingPathComponent("keys") }
    /// Where a consortium node keeps its checkpoint snapshots.
    public var snapshotsURL: URL { url.appendingPathComponent("snapshots", isDirectory: true) }

    /// The node's checkpoint snapshots, if it keeps any (a consortium node that made or joined from one).
    public func snapshotArchive() throws -> DirectorySnapshotArchive? {
        FileManager.default.fileExists(atPath: snapshotsURL.path) ? try DirectorySnapshotArchive(directory: snapshotsURL) : nil
    }

    public var vaultPath: String { url.appendingPathComponent("vault.sqlite").path }
    /// Client assertions the node's token endpoint accepted, kept until they expire (no PHI).
    public var usedAssertionsPath: String { url.appendingPathComponent("assertions.sqlite").path }
    /// The development TLS certificate `careledger init --dev-cert` writes (self-signed; PEM).
    public var devCertificateURL: URL { url.appendingPathComponent("tls").appendingPathComponent("dev-cert.pem") }
    /// Its private key (PEM, 0600).
    public var devKeyURL: URL { url.appendingPathComponent("tls").appendingPathComponent("dev-key.pem") }

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

    /// Saves a new key file: sealed with the directory's passphrase, or in the clear only in a
    /// directory made with `--insecure-plain-keys` (`plain`, during `initialize`).
    public func saveKey(_ name: String, _ keys: IdentityKeys, plain: Bool? = nil) throws {
        try Self.checkName(name)
        let plain = try plain ?? (exists ? settings().plainKeys == true : false)
        let passphrase = plain ? nil : resolvedPassphrase(confirm: !exists)
        guard plain || passphrase != nil else { throw passphraseMissing }
        try FileManager.default.createDirectory(at: keysURL, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let url = keyURL(name)
        guard !FileManager.default.fileExists(atPath: url.path) else { throw ServiceError("a key named \(name) already exists") }
        let data = try JSONEncoder().encode(try StoredKey(name: name, keys: keys, passphrase: passphrase, cost: keyCost))
        try Self.writeNewKeyFile(url, data)
        openedKeys.withLock { $0[url.path] = (data, keys) }
    }

    /// Creates `url` with 0600 before writing (so a private key is never readable by others),
    /// writes `data` and syncs it.
    private static func writeNewKeyFile(_ url: URL, _ data: Data) throws {
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
        if let opened = openedKeys.withLock({ $0[url.path] }), opened.contents == data { return opened.keys }
        let stored = try storedKey(name, data)
        let passphrase = stored.isPlain ? nil : resolvedPassphrase()
        if !stored.isPlain, passphrase == nil { throw passphraseMissing }
        let keys: IdentityKeys
        do { keys = try stored.identityKeys(passphrase: passphrase) } catch VaultError.wrongPassphrase {
            throw ServiceError("the passphrase does not open key \(name) (wrong \(StoredKey.passphraseVariable) or --passphrase-file?)")
        }
        openedKeys.withLock { $0[url.path] = (data, keys) }
        return keys
    }

    private func storedKey(_ name: String, _ data: Data) throws -> StoredKey {
        do { return try JSONDecoder().decode(StoredKey.self, from: data) } catch { throw ServiceError("key file for \(name) is damaged") }
    }

    /// The identity id a key file names, read without opening its private keys.
    public func keyID(_ name: String) throws -> IdentityID {
        try Self.checkName(name)
        guard let data = FileManager.default.contents(atPath: keyURL(name).path) else { throw ServiceError("no key named \(name) in \(keysURL.path)") }
        guard let id = Hash256(hex: try storedKey(name, data).id) else { throw ServiceError("key file for \(name) is damaged") }
        return id
    }

    /// Seals every key file that holds its private keys in the clear with the passphrase, and
    /// records that the directory keeps sealed keys only; returns the names sealed.
    @discardableResult
    public func sealKeys() throws -> [String] {
        guard let passphrase = resolvedPassphrase(confirm: true) else { throw passphraseMissing }
        var sealed: [String] = []
        for name in try keyNames() {
            let url = keyURL(name)
            guard let data = FileManager.default.contents(atPath: url.path), try storedKey(name, data).isPlain else { continue }
            let keys = try loadKey(name)
            let replacement = try JSONEncoder().encode(try StoredKey(name: name, keys: keys, passphrase: passphrase, cost: keyCost))
            let temporary = keysURL.appendingPathComponent(".\(name).json.sealing")
            try? FileManager.default.removeItem(at: temporary)
            try Self.writeNewKeyFile(temporary, replacement)
            guard rename(temporary.path, url.path) == 0 else { throw ServiceError("cannot replace \(url.path)") }
            sealed.append(name)
        }
        if exists {
            var current = try settings()
            current.plainKeys = nil
            try write(settings: current)
        }
        return sealed
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
/// sealed with the directory's passphrase like every key), named `patient-<first 16 hex of id>`.
public struct DirectoryPatientKeys: PatientKeyStore {
    public let directory: DataDirectory

    public init(directory: DataDirectory) { self.directory = directory }

    public func save(_ keys: IdentityKeys) throws {
        try directory.saveKey(Self.name(keys.derivedID), keys)
    }

    public func keys(of id: IdentityID) -> IdentityKeys? {
        guard holds(id), let keys = try? directory.loadKey(Self.name(id)), keys.derivedID == id else { return nil }
        return keys
    }

    public func holds(_ id: IdentityID) -> Bool { FileManager.default.fileExists(atPath: directory.keyURL(Self.name(id)).path) }

    /// Deletes the file only when it holds this patient's keys (the name is a 16-hex prefix of the id).
    public func forget(_ id: IdentityID) throws {
        guard keys(of: id) != nil else { return }
        try FileManager.default.removeItem(at: directory.keyURL(Self.name(id)))
    }

    static func name(_ id: IdentityID) -> String { "patient-\(id.hex.prefix(16))" }
}
