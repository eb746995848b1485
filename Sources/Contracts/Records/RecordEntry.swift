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
public struct RecordEntry: Sendable, Equatable {
    /// The `patient` of a directory record (Organization, Practitioner, …): no patient.
    public static let noPatient = IdentityID.zero

    public var record: Hash256
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

    var canonical: CanonicalValue {
        var map: [String: CanonicalValue] = [
            "patient": .bytes(patient.bytes), "resourceType": .string(resourceType), "category": .string(category.rawValue),
            "author": .bytes(author.bytes), "custodian": .bytes(custodian.bytes), "ciphertextHash": .bytes(ciphertextHash.bytes),
            "version": .int(Int64(version)), "height": .int(Int64(height)), "timeMs": .int(timeMs),
        ]
        if let erasedHeight { map["erasedHeight"] = .int(Int64(erasedHeight)) }
        if let erasedBy { map["erasedBy"] = .bytes(erasedBy.bytes) }
        return .map(map)
    }

    init(record: Hash256, patient: IdentityID, resourceType: String, category: SensitivityCategory, author: IdentityID,
         custodian: IdentityID, ciphertextHash: Hash256, version: UInt64, height: UInt64, timeMs: Int64) {
        self.record = record
        self.patient = patient
        self.resourceType = resourceType
        self.category = category
        self.author = author
        self.custodian = custodian
        self.ciphertextHash = ciphertextHash
        self.version = version
        self.height = height
        self.timeMs = timeMs
    }

    init?(record: Hash256, canonical value: CanonicalValue) {
        guard let patient = value["patient"]?.bytesValue.flatMap({ Hash256(bytes: $0) }),
              let resourceType = value["resourceType"]?.stringValue,
              let category = value["category"]?.stringValue.flatMap(SensitivityCategory.init(rawValue:)),
              let author = value["author"]?.bytesValue.flatMap({ Hash256(bytes: $0) }),
              let custodian = value["custodian"]?.bytesValue.flatMap({ Hash256(bytes: $0) }),
              let hash = value["ciphertextHash"]?.bytesValue.flatMap({ Hash256(bytes: $0) }),
              let version = value["version"]?.intValue, let height = value["height"]?.intValue,
              let timeMs = value["timeMs"]?.intValue
        else { return nil }
        self.init(record: record, patient: patient, resourceType: resourceType, category: category, author: author,
                  custodian: custodian, ciphertextHash: hash, version: UInt64(version), height: UInt64(height), timeMs: timeMs)
        erasedHeight = value["erasedHeight"]?.intValue.map { UInt64($0) }
        erasedBy = value["erasedBy"]?.bytesValue.flatMap { Hash256(bytes: $0) }
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
        guard let bytes, let value = try? CanonicalValue(decoding: bytes) else { return nil }
        return RecordEntry(record: record, canonical: value)
    }
}
