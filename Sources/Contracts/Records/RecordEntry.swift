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
    public var category: SensitivityCategory
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

    /// Every sensitive category that protects the record: its own and the carried ones.
    public var sensitiveLabels: Set<SensitivityCategory> {
        var labels = Set(carriedLabels ?? [])
        if category.isSensitive { labels.insert(category) }
        return labels
    }

    private enum CodingKeys: String, CodingKey {
        case patient, resourceType, category, author, custodian, ciphertextHash, version, height, timeMs, erasedHeight, erasedBy
        case carriedLabels
    }
}

/// Read-only record questions, for the consent policy, the node and the CLI.
public enum RecordIndex {
    /// State key of a record's current entry.
    public static func currentKey(_ record: Hash256) -> String { "records/record/\(record.hex)" }
    static func versionKey(_ record: Hash256, _ version: UInt64) -> String { "records/version/\(record.hex)/\(version)" }
    static func patientKey(_ patient: IdentityID, _ record: Hash256) -> String { "records/patient/\(patient.hex)/\(record.hex)" }

    /// State-key prefix of a patient's record list; entries end in the record id.
    public static func patientPrefix(_ patient: IdentityID) -> String { "records/patient/\(patient.hex)/" }

    /// The latest version of a record, if registered.
    public static func current(_ record: Hash256, in reader: any StateReader) -> RecordEntry? {
        reader.decoded(currentKey(record)) { decode(record, $0) }
    }

    /// The latest version of a record as seen inside a block.
    static func current(_ record: Hash256, in state: StateView) -> RecordEntry? {
        decode(record, state.get(currentKey(record)))
    }

    /// One version of a record as first registered (erasure is recorded on the current entry only).
    public static func version(_ record: Hash256, _ version: UInt64, in reader: any StateReader) -> RecordEntry? {
        decode(record, reader.value(for: versionKey(record, version)))
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
