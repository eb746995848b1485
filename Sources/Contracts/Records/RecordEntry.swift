public import LedgerCore

/// How sensitive a record is. Sensitive categories are never covered by a consent implicitly:
/// a consent must name them (or the record) — 42 CFR Part 2 and state laws demand it.
public enum SensitivityCategory: String, Sendable, CaseIterable, Comparable {
    case general
    case mentalHealth = "mental-health"
    case substanceUse = "substance-use"
    case sexualReproductive = "sexual-reproductive"
    case hiv
    case genetic

    /// True for every category but `general`.
    public var isSensitive: Bool { self != .general }

    public static func < (lhs: SensitivityCategory, rhs: SensitivityCategory) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The on-chain entry of one version of a health record: ids, codes and a ciphertext hash, no PHI.
/// The record's content is an encrypted blob at its custodian.
public struct RecordEntry: StoredValue, Equatable {
    /// The `patient` of a directory record (Organization, Practitioner, …): no patient.
    public static let noPatient = IdentityID.zero

    /// The record's id (from the state key).
    public var record: Hash256 = .zero
    /// The patient the record is about, or `noPatient` for directory data.
    public var patient: IdentityID
    public var resourceType: String
    /// The record's own category. Where its labels are private and not held here
    /// (`labelsWithheld`), `general` stands in: decide with `sensitiveLabels`, which then names
    /// every sensitive category.
    public var category: SensitivityCategory {
        get { storedCategory ?? .general }
        set { storedCategory = newValue }
    }
    /// The category as stored: nil when the labels are private (in the custodian's collection).
    var storedCategory: SensitivityCategory?
    public var author: IdentityID
    public var custodian: IdentityID
    public var ciphertextHash: Hash256
    public var version: UInt64
    public var height: UInt64
    public var timeMs: Int64

    /// True for directory data (no patient): readable by every active identity.
    public var isDirectory: Bool { patient == Self.noPatient }
    /// Set once the record is erased (crypto-shredded); the hashes stay, the content is gone.
    public var erasedHeight: UInt64?
    public var erasedBy: IdentityID?

    public var isErased: Bool { erasedHeight != nil }
    /// Sensitive categories earlier versions carried that this version's own `category` is not:
    /// a label stays on the record until the patient or a privacy officer releases it
    /// (`records.releaseLabel`), so a version written without a label downgrades nothing. Nil when none.
    public var carriedLabels: [SensitivityCategory]?
    /// True when the record was registered privately: its category and carried labels are in its
    /// custodian's collection (`RecordLabel`), not in this shared entry. Nil: shared, as before.
    public var labelsPrivate: Bool?
    /// Set when the private labels were found and filled in (on the custodian's node).
    public internal(set) var labelsHere = false

    /// Private labels this state does not hold: the record is treated as carrying every sensitive
    /// label, so no consent covers it unless it names the record or every sensitive category.
    public var labelsWithheld: Bool { labelsPrivate == true && !labelsHere }

    public init(record: Hash256 = .zero, patient: IdentityID, resourceType: String, category: SensitivityCategory, author: IdentityID,
                custodian: IdentityID, ciphertextHash: Hash256, version: UInt64, height: UInt64, timeMs: Int64, erasedHeight: UInt64? = nil,
                erasedBy: IdentityID? = nil, carriedLabels: [SensitivityCategory]? = nil) {
        (self.record, self.patient, self.resourceType, self.storedCategory, self.author, self.custodian) =
            (record, patient, resourceType, category, author, custodian)
        (self.ciphertextHash, self.version, self.height, self.timeMs) = (ciphertextHash, version, height, timeMs)
        (self.erasedHeight, self.erasedBy, self.carriedLabels) = (erasedHeight, erasedBy, carriedLabels)
    }

    /// Every sensitive category that protects the record: its own and the carried ones (all of
    /// them while its private labels are withheld from this state).
    public var sensitiveLabels: Set<SensitivityCategory> {
        if labelsWithheld { return Set(SensitivityCategory.allCases.filter(\.isSensitive)) }
        var labels = Set(carriedLabels ?? [])
        if category.isSensitive { labels.insert(category) }
        return labels
    }

    private enum CodingKeys: String, CodingKey {
        case patient, resourceType, storedCategory = "category", author, custodian, ciphertextHash, version, height, timeMs, erasedHeight, erasedBy
        case carriedLabels, labelsPrivate
    }
}

/// Read-only record questions, for the consent policy, the node and the CLI.
public enum RecordIndex {
    /// State key of a record's current entry.
    public static func currentKey(_ record: Hash256) -> String { currentPrefix + record.hex }
    static let currentPrefix = "records/record/"
    static func versionKey(_ record: Hash256, _ version: UInt64) -> String { "records/version/\(record.hex)/\(version)" }
    static func patientKey(_ patient: IdentityID, _ record: Hash256) -> String { "records/patient/\(patient.hex)/\(record.hex)" }
    /// Prefix of private labels, kept in the custodian's collection.
    static let labelPrefix = "records/label/"
    static func labelKey(_ record: Hash256, _ version: UInt64) -> String { labelPrefix + "\(record.hex)/\(version)" }

    /// State-key prefix of a patient's record list; entries end in the record id.
    public static func patientPrefix(_ patient: IdentityID) -> String { "records/patient/\(patient.hex)/" }

    /// The latest version of a record, if registered.
    public static func current(_ record: Hash256, in reader: any StateReader) -> RecordEntry? {
        reader.decoded(currentKey(record)) { decode(record, $0) }.map { withLabels($0, reader) }
    }

    /// The latest version of a record as seen inside a block (decoded once by the node's state
    /// cache while its committed bytes are unchanged: admission and execution both read it).
    static func current(_ record: Hash256, in state: StateView) -> RecordEntry? {
        state.decoded(currentKey(record)) { decode(record, $0) }.map { withLabels($0, state) }
    }

    /// One version of a record as first registered (erasure is recorded on the current entry only).
    public static func version(_ record: Hash256, _ version: UInt64, in reader: any StateReader) -> RecordEntry? {
        decode(record, reader.value(for: versionKey(record, version))).map { withLabels($0, reader) }
    }

    /// Whether an endorsed registration's shared writes register `version` of `record`.
    public static func registers(_ record: Hash256, version: UInt64, in writes: [Proposal.Write]) -> Bool {
        writes.contains { $0.key == versionKey(record, version) }
    }

    /// An entry whose labels are private, with them filled in where `reader` holds them: the
    /// custodian's node, or the custodian's private execution. Elsewhere it stays withheld.
    static func withLabels(_ entry: RecordEntry, _ reader: any StateReader) -> RecordEntry {
        guard entry.labelsPrivate == true, let label = reader.value(for: labelKey(entry.record, entry.version)).flatMap(RecordLabel.decode) else {
            return entry
        }
        var merged = entry
        (merged.category, merged.carriedLabels, merged.labelsHere) = (label.category, label.carriedLabels, true)
        return merged
    }

    /// Every version of a record, oldest first.
    public static func history(_ record: Hash256, in reader: any StateReader) -> [RecordEntry] {
        guard let latest = current(record, in: reader) else { return [] }
        return (1...latest.version).compactMap { version(record, $0, in: reader) }
    }

    private static func decode(_ record: Hash256, _ bytes: [UInt8]?) -> RecordEntry? {
        RecordEntry.decode(bytes) { $0.record = record }
    }
}

/// A record version's labels when they are private: in its custodian's collection, under
/// `records/label/<record>/<version>`.
struct RecordLabel: StoredValue, Equatable {
    var category: SensitivityCategory
    var carriedLabels: [SensitivityCategory]?
}
