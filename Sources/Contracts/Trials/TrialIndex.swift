public import LedgerCore

/// Where the trials contract keeps its state, and the public reads of it. Every read touches a
/// bounded number of keys: a trial has at most `TrialsContract.versionsMax` protocol versions,
/// `resultsMax` reports and `criteriaVersionsMax` criteria versions.
public enum TrialIndex {
    /// Prefix of the trials' heads (the public registry), one key per trial.
    public static let trialPrefix = "trials/trial/"
    static func headKey(_ trial: String) -> String { trialPrefix + trial }
    static func versionKey(_ trial: String, _ version: UInt64) -> String { "trials/version/\(trial)/\(version)" }
    static func participantKey(_ trial: String, _ patient: IdentityID) -> String { "trials/participant/\(trial)/\(patient.hex)" }
    static func batchKey(_ trial: String, _ index: UInt64) -> String { "trials/batch/\(trial)/\(index)" }
    static func crfKey(_ crf: Hash256) -> String { "trials/crf/\(crf.hex)" }
    static func resultKey(_ trial: String, _ index: UInt64) -> String { "trials/result/\(trial)/\(index)" }
    static func flagKey(_ trial: String, _ index: UInt64) -> String { "trials/flag/\(trial)/\(index)" }
    static func criteriaKey(_ trial: String, _ version: UInt64) -> String { "trials/criteria/\(trial)/\(version)" }
    static func matchKey(_ trial: String, _ token: Hash256) -> String { "trials/match/\(trial)/\(token.hex)" }
    static func matchCountKey(_ trial: String, _ custodian: IdentityID) -> String { "trials/match-count/\(trial)/\(custodian.hex)" }
    /// Prefix of the enrollments a trial's collection counts (private enrollments).
    static let enrolledPrefix = "trials/enrolled/"
    static func enrolledKey(_ trial: String) -> String { enrolledPrefix + trial }

    /// Enrollments made privately, where this state holds the trial's collection (0 elsewhere).
    static func enrolledPrivately(_ trial: String, in reader: any StateReader) -> UInt64 {
        decode(reader, enrolledKey(trial)) { $0.intValue.map { UInt64(max(0, $0)) } } ?? 0
    }

    static func decode<T>(_ reader: any StateReader, _ key: String, _ make: (CanonicalValue) -> T?) -> T? {
        reader.value(for: key).flatMap { try? CanonicalValue(decoding: $0) }.flatMap(make)
    }

    static func decode<T: StoredValue>(_ reader: any StateReader, _ key: String, key fill: (inout T) -> Void = { _ in }) -> T? {
        T.decode(reader.value(for: key), key: fill)
    }

    static func head(_ trial: String, in reader: any StateReader) -> TrialHead? {
        decode(reader, headKey(trial))
    }

    static func version(_ trial: String, _ version: UInt64, in reader: any StateReader) -> TrialVersion? {
        decode(reader, versionKey(trial, version))
    }

    static func versions(_ trial: String, count: UInt64, in reader: any StateReader) -> [TrialVersion] {
        guard count > 0 else { return [] }
        return (1...count).compactMap { version(trial, $0, in: reader) }
    }

    /// A trial with every protocol version (oldest first), or nil if unknown.
    public static func trial(_ id: String, in reader: any StateReader) -> Trial? {
        guard let head = head(id, in: reader) else { return nil }
        let versions = versions(id, count: head.versionCount, in: reader)
        guard versions.count == Int(head.versionCount), !versions.isEmpty else { return nil }
        return Trial(id: id, sponsor: head.sponsor, registeredBy: head.registeredBy, versions: versions,
                     participantCount: head.participantCount + enrolledPrivately(id, in: reader), dataBatchCount: head.dataBatchCount, resultCount: head.resultCount,
                     criteriaCount: head.criteriaCount, height: head.height)
    }

    /// One protocol version of a trial.
    public static func protocolVersion(_ trial: String, _ number: UInt64, in reader: any StateReader) -> TrialVersion? {
        version(trial, number, in: reader)
    }

    /// A patient's standing in a trial (consented, enrolled or withdrawn, and the consent-form version), or nil.
    public static func participant(trial: String, patient: IdentityID, in reader: any StateReader) -> TrialParticipant? {
        decode(reader, participantKey(trial, patient)) { (p: inout TrialParticipant) in p.trial = trial }
    }

    /// Number of data batches anchored for a trial (0 if unknown).
    public static func dataBatchCount(trial: String, in reader: any StateReader) -> UInt64 {
        head(trial, in: reader)?.dataBatchCount ?? 0
    }

    /// One data batch by its 1-based index.
    public static func dataBatch(trial: String, index: UInt64, in reader: any StateReader) -> TrialDataBatch? {
        decode(reader, batchKey(trial, index)) { (b: inout TrialDataBatch) in b.index = index }
    }

    /// The trial and batch a case-report-form hash was anchored in, if any.
    public static func crf(_ hash: Hash256, in reader: any StateReader) -> (trial: String, batch: UInt64)? {
        decode(reader, crfKey(hash)) { value in
            guard let trial = value["trial"]?.stringValue, let batch = value["batch"]?.intValue else { return nil }
            return (trial, UInt64(batch))
        }
    }

    /// Every results report of a trial, oldest first, each with its outcome-switching flag if any.
    public static func results(trial: String, in reader: any StateReader) -> [TrialResult] {
        guard let head = head(trial, in: reader), head.resultCount > 0 else { return [] }
        return (1...head.resultCount).compactMap { index in
            guard var result = decode(reader, resultKey(trial, index), key: { (r: inout TrialResult) in r.index = index }) else { return nil }
            result.flag = decode(reader, flagKey(trial, index)) { (f: inout OutcomeSwitchFlag) in f.resultIndex = index }
            return result
        }
    }

    /// The outcome-switching flags of a trial's reports, oldest first (empty when every report was honest).
    public static func flags(trial: String, in reader: any StateReader) -> [OutcomeSwitchFlag] {
        results(trial: trial, in: reader).compactMap(\.flag)
    }

    /// The recruitment criteria in force (the latest published), or nil if none were published.
    public static func criteria(trial: String, in reader: any StateReader) -> TrialCriteria? {
        guard let head = head(trial, in: reader), head.criteriaCount > 0 else { return nil }
        return decode(reader, criteriaKey(trial, head.criteriaCount)) { (c: inout TrialCriteria) in c.version = head.criteriaCount }
    }

    /// How many recruitment match tokens a custodian announced for a trial.
    public static func matchCount(trial: String, custodian: IdentityID, in reader: any StateReader) -> UInt64 {
        decode(reader, matchCountKey(trial, custodian)) { $0.intValue.map { UInt64($0) } } ?? 0
    }

    /// The blinded match token a custodian announces: SHA-256(trial ‖ patient ‖ secret), with the
    /// trial id length-prefixed so no two (trial, patient) pairs share an input.
    public static func matchToken(trial: String, patient: IdentityID, secret: [UInt8]) -> Hash256 {
        let id = Array(trial.utf8)
        return Hash256.sha256(withUnsafeBytes(of: UInt64(id.count).bigEndian) { Array($0) } + id + patient.bytes + secret)
    }
}
