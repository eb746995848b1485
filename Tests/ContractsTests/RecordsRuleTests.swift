import Contracts
import LedgerCore
import Testing

/// The chain every Records rule row starts from: the consent rules' world (hospital and clinic staff,
/// a patient with a guardian, a hospital record `obs`, an erased record) plus a mental-health record,
/// a directory record, a record about no patient, a clinic admin, and a revoked patient.
struct RecordsWorld: Sendable {
    static let sensitive = Hash256.sha256([0xB3]), practitioner = Hash256.sha256([0xB4]), device = Hash256.sha256([0xB5])
    /// A record id nobody has registered.
    static let fresh = Hash256.sha256([0xC1])
    static let clinicAdmin = Harness.keys(97), revokedPatient = Harness.keys(98)

    static let shared = RecordsWorld()

    var h: Harness

    init() {
        var h = RuleWorld.shared.h
        h.runAccepted([
            h.enroll(Self.clinicAdmin, by: Harness.clinic, roles: ["admin"]),
            h.registerPatient(Self.revokedPatient),
            h.putRecord(Self.sensitive, "Observation", "mental-health", by: Harness.doctor),
            h.putRecord(Self.practitioner, "Practitioner", "general", by: Harness.doctor, patient: nil),
            h.putRecord(Self.device, "Device", "general", by: Harness.doctor, patient: nil),
        ], "records world")
        // No method revokes a patient today, but `register` refuses a revoked one: the world marks
        // this patient revoked in state directly.
        h.state = Self.revoking(Self.revokedPatient.derivedID, in: h.state)
        self.h = h
    }

    /// `state` with identity `id` marked revoked.
    static func revoking(_ id: IdentityID, in state: MemoryState) -> MemoryState {
        var values = state.values
        let key = Directory.identityKey(id)
        guard var identity = values[key].flatMap({ try? CanonicalValue(decoding: $0) })?.mapValue else {
            preconditionFailure("no identity \(id.hex)")
        }
        identity["revoked"] = .bool(true)
        values[key] = CanonicalValue.map(identity).encoded
        return MemoryState(values)
    }
}

/// Records contract: one row per rule of `register`, `registerMany` and `erase`, each with the
/// result code it must get (the rows are checked by `ContractRuleRow.check`: a refusal says why
/// and changes nothing but the sender's sequence).
@Suite("Records contract rules")
struct RecordsRuleTests {
    typealias W = RuleWorld
    typealias R = RecordsWorld
    typealias Row = ContractRuleRow
    static let H = Harness.self

    /// records.register of version 1 of `RecordsWorld.fresh` by the hospital's doctor, with `change` applied to the arguments.
    static func register(_ h: inout Harness, by author: IdentityKeys = Harness.doctor,
                         _ change: (inout CanonicalMap) -> Void) -> VerifiedTransaction {
        var args: CanonicalMap = [
            "record": .bytes(R.fresh.bytes), "patient": .bytes(Harness.patientID.bytes), "resourceType": .string("Observation"),
            "category": .string("general"), "ciphertextHash": .bytes(Harness.ciphertext(R.fresh, 1).bytes), "version": .int(1),
        ]
        change(&args)
        return h.sign(author, "records", "register", args)
    }

    /// One registerMany entry: version `version` of `record` for the harness patient.
    static func entry(_ record: Hash256, _ type: String = "Observation", version: Int64 = 1) -> CanonicalValue {
        .map(["record": .bytes(record.bytes), "patient": .bytes(Harness.patientID.bytes), "resourceType": .string(type),
              "category": .string("general"), "ciphertextHash": .bytes(Harness.ciphertext(record, version).bytes), "version": .int(version)])
    }

    /// records.registerMany of `entries`, signed by the hospital's doctor.
    static func registerMany(_ h: inout Harness, _ entries: [CanonicalValue], by author: IdentityKeys = Harness.doctor) -> VerifiedTransaction {
        h.sign(author, "records", "registerMany", ["entries": .list(entries)])
    }

    /// `count` distinct new records, as registerMany entries.
    static func entries(_ count: Int) -> [CanonicalValue] { (0..<count).map { entry(Hash256.sha256([0xE0, UInt8($0 / 256), UInt8($0 % 256)])) } }

    static let privacyOfficer = Harness.keys(99)
    /// Version 2 of the mental-health record, general: the label carries over.
    static let downgrade: @Sendable (inout Harness) -> [VerifiedTransaction] = { [$0.putRecord(R.sensitive, "Observation", "general", by: H.doctor, version: 2)] }

    /// records.releaseLabel of `category` on the mental-health record.
    static func release(_ h: inout Harness, _ category: SensitivityCategory = .mentalHealth, by keys: IdentityKeys) -> VerifiedTransaction {
        h.sign(keys, RecordsContract.ReleaseLabel(record: R.sensitive, category: category))
    }

    static let contribute: @Sendable (inout Harness) -> [VerifiedTransaction] = { [$0.grantConsent(to: .member(W.clinicDoctor.derivedID), actions: ["contribute"])] }

    static let rows: [Row] = [
        // register: who writes version 1
        Row(description: "version 1 by the custodian's clinician", expected: .accepted) { $0.putRecord(R.fresh, "Observation", "general", by: H.doctor) },
        Row(description: "version 1 by an organization's own key", expected: .accepted) { $0.putRecord(R.fresh, "Observation", "general", by: H.hospital) },
        Row(description: "version 1 by another organization's clinician (who becomes the custodian)", expected: .accepted) {
            $0.putRecord(R.fresh, "Observation", "general", by: W.clinicDoctor)
        },
        Row(description: "version 1 by a patient", expected: .unauthorized) { $0.putRecord(R.fresh, "Observation", "general", by: H.patient) },
        Row(description: "version 1 by a member without an author role", expected: .unauthorized) {
            $0.putRecord(R.fresh, "Observation", "general", by: W.researcher)
        },
        Row(description: "version 1 by an admin without an author role", expected: .unauthorized) {
            $0.putRecord(R.fresh, "Observation", "general", by: W.hospitalAdmin)
        },
        Row(description: "version 1 by a revoked member", expected: .senderRevoked) { $0.putRecord(R.fresh, "Observation", "general", by: W.revokedMember) },
        Row(description: "version 1 by an unknown sender", expected: .unknownSender) { $0.putRecord(R.fresh, "Observation", "general", by: H.stranger) },
        // register: agents (an organization's system writing for a staff member)
        Row(description: "an organization writes for its clinician", expected: .accepted) {
            $0.putRecord(R.fresh, "Observation", "general", by: H.hospital, agent: H.doctor.derivedID)
        },
        Row(description: "an organization writes for another organization's member", expected: .notOrganizationMember) {
            $0.putRecord(R.fresh, "Observation", "general", by: H.hospital, agent: W.clinicDoctor.derivedID)
        },
        Row(description: "an organization writes for an unknown identity", expected: .notOrganizationMember) {
            $0.putRecord(R.fresh, "Observation", "general", by: H.hospital, agent: H.stranger.derivedID)
        },
        Row(description: "an organization writes for its member without an author role", expected: .unauthorized) {
            $0.putRecord(R.fresh, "Observation", "general", by: H.clinic, agent: W.researcher.derivedID)
        },
        Row(description: "an organization writes for its revoked member", expected: .senderRevoked) {
            $0.putRecord(R.fresh, "Observation", "general", by: H.clinic, agent: W.revokedMember.derivedID)
        },
        Row(description: "a member names an agent", expected: .unauthorized) {
            $0.putRecord(R.fresh, "Observation", "general", by: H.doctor, agent: H.doctor.derivedID)
        },
        Row(description: "a patient names an agent", expected: .unauthorized) {
            $0.putRecord(R.fresh, "Observation", "general", by: H.patient, agent: H.doctor.derivedID)
        },
        // register: the patient
        Row(description: "for an unknown patient", expected: .unknownPatient) {
            $0.putRecord(R.fresh, "Observation", "general", by: H.doctor, patient: H.stranger.derivedID)
        },
        Row(description: "for a member as patient", expected: .unknownPatient) {
            $0.putRecord(R.fresh, "Observation", "general", by: H.doctor, patient: W.clinicDoctor.derivedID)
        },
        Row(description: "for an organization as patient", expected: .unknownPatient) {
            $0.putRecord(R.fresh, "Observation", "general", by: H.doctor, patient: H.clinic.derivedID)
        },
        Row(description: "for a revoked patient", expected: .unknownPatient) {
            $0.putRecord(R.fresh, "Observation", "general", by: H.doctor, patient: R.revokedPatient.derivedID)
        },
        Row(description: "a resource about no patient (custodian only)", expected: .accepted) {
            $0.putRecord(R.fresh, "Device", "general", by: H.doctor, patient: nil)
        },
        // register: directory types
        Row(description: "directory data without a patient", expected: .accepted) { $0.putRecord(R.fresh, "Practitioner", "general", by: H.doctor, patient: nil) },
        Row(description: "directory data with a patient", expected: .badArguments) { $0.putRecord(R.fresh, "Practitioner", "general", by: H.doctor) },
        Row(description: "directory data in a sensitive category", expected: .unknownCategory) {
            $0.putRecord(R.fresh, "Organization", "hiv", by: H.doctor, patient: nil)
        },
        Row(description: "version 2 of directory data", expected: .accepted) {
            $0.putRecord(R.practitioner, "Practitioner", "general", by: H.doctor, version: 2, patient: nil)
        },
        Row(description: "version 2 of directory data with a patient", expected: .badArguments) {
            $0.putRecord(R.practitioner, "Practitioner", "general", by: H.doctor, version: 2)
        },
        // register: versions
        Row(description: "version 2 by the custodian's clinician", expected: .accepted) { $0.putRecord(W.obs, "Observation", "general", by: H.doctor, version: 2) },
        Row(description: "version 2 of an unknown record", expected: .unknownRecord) { $0.putRecord(R.fresh, "Observation", "general", by: H.doctor, version: 2) },
        Row(description: "version 1 of an existing record", expected: .versionConflict) { $0.putRecord(W.obs, "Observation", "general", by: H.doctor) },
        Row(description: "a version skipped (3 after 1)", expected: .versionConflict) {
            $0.putRecord(W.obs, "Observation", "general", by: H.doctor, version: 3)
        },
        Row(description: "version 2 for another patient", expected: .versionConflict) {
            $0.putRecord(W.obs, "Observation", "general", by: H.doctor, version: 2, patient: W.otherPatient.derivedID)
        },
        Row(description: "version 2 with another resource type", expected: .versionConflict) {
            $0.putRecord(W.obs, "Condition", "general", by: H.doctor, version: 2)
        },
        Row(description: "version 2 of a patient's record without the patient", expected: .versionConflict) {
            $0.putRecord(W.obs, "Observation", "general", by: H.doctor, version: 2, patient: nil)
        },
        Row(description: "version 2 of a record about no patient names a patient", expected: .versionConflict) {
            $0.putRecord(R.device, "Device", "general", by: H.doctor, version: 2)
        },
        // register: erased records
        Row(description: "version 2 of an erased record", expected: .recordErased) { $0.putRecord(W.erased, "Observation", "general", by: H.doctor, version: 2) },
        Row(description: "version 1 again of an erased record", expected: .recordErased) { $0.putRecord(W.erased, "Observation", "general", by: H.doctor) },
        // register: category changes (only the custodian recategorizes)
        Row(description: "version 2 by the custodian changes the category", expected: .accepted) {
            $0.putRecord(W.obs, "Observation", "mental-health", by: H.doctor, version: 2)
        },
        Row(description: "version 2 by the custodian moves a mental-health record to general", expected: .accepted) {
            $0.putRecord(R.sensitive, "Observation", "general", by: H.doctor, version: 2)
        },
        Row(description: "a contributor with a contribute consent changes the category", expected: .categoryChangeNotAllowed, prepare: contribute) {
            $0.putRecord(W.obs, "Observation", "mental-health", by: W.clinicDoctor, version: 2)
        },
        Row(description: "another organization's clinician moves a mental-health record to general", expected: .categoryChangeNotAllowed) {
            $0.putRecord(R.sensitive, "Observation", "general", by: W.clinicDoctor, version: 2)
        },
        Row(description: "another organization's own key changes the category", expected: .categoryChangeNotAllowed) {
            $0.putRecord(W.obs, "Observation", "mental-health", by: H.clinic, version: 2)
        },
        // register: contributions from another organization need a contribute consent
        Row(description: "a contribution with a contribute consent", expected: .accepted, prepare: contribute) {
            $0.putRecord(W.obs, "Observation", "general", by: W.clinicDoctor, version: 2)
        },
        Row(description: "a contribution without consent", expected: .unauthorized) {
            $0.putRecord(W.obs, "Observation", "general", by: W.clinicDoctor, version: 2)
        },
        Row(description: "a contribution with a read-only consent", expected: .unauthorized,
            prepare: { [$0.grantConsent(to: .member(W.clinicDoctor.derivedID), actions: ["read"])] }) {
            $0.putRecord(W.obs, "Observation", "general", by: W.clinicDoctor, version: 2)
        },
        Row(description: "a contribution under a contribute consent for research only", expected: .unauthorized,
            prepare: { [$0.grantConsent(to: .member(W.clinicDoctor.derivedID), purposes: ["HRESCH"], actions: ["contribute"])] }) {
            $0.putRecord(W.obs, "Observation", "general", by: W.clinicDoctor, version: 2)
        },
        Row(description: "a contribution under a revoked contribute consent", expected: .unauthorized, prepare: { h in
            let grant = h.grantConsent(to: .member(W.clinicDoctor.derivedID), actions: ["contribute"])
            return [grant, h.revokeConsent(grant.id)]
        }) {
            $0.putRecord(W.obs, "Observation", "general", by: W.clinicDoctor, version: 2)
        },
        Row(description: "a contribution under a contribute consent to someone else", expected: .unauthorized,
            prepare: { [$0.grantConsent(to: .member(W.researcher.derivedID), actions: ["contribute"])] }) {
            $0.putRecord(W.obs, "Observation", "general", by: W.clinicDoctor, version: 2)
        },
        Row(description: "a contribution by another organization's own key without consent", expected: .unauthorized) {
            $0.putRecord(W.obs, "Observation", "general", by: H.clinic, version: 2)
        },
        // register: resource type and category
        Row(description: "a lower-case resource type", expected: .unknownResourceType) { $0.putRecord(R.fresh, "observation", "general", by: H.doctor) },
        Row(description: "a one-letter resource type", expected: .unknownResourceType) { $0.putRecord(R.fresh, "O", "general", by: H.doctor) },
        Row(description: "a resource type with a digit", expected: .unknownResourceType) { $0.putRecord(R.fresh, "Observation2", "general", by: H.doctor) },
        Row(description: "a resource type of 64 letters", expected: .accepted) {
            $0.putRecord(R.fresh, "O" + String(repeating: "b", count: 63), "general", by: H.doctor)
        },
        Row(description: "a resource type of 65 letters", expected: .badArguments) {
            $0.putRecord(R.fresh, "O" + String(repeating: "b", count: 64), "general", by: H.doctor)
        },
        Row(description: "an empty resource type", expected: .badArguments) { $0.putRecord(R.fresh, "", "general", by: H.doctor) },
        Row(description: "an unknown category", expected: .unknownCategory) { $0.putRecord(R.fresh, "Observation", "gossip", by: H.doctor) },
        Row(description: "a category of 33 bytes", expected: .badArguments) {
            $0.putRecord(R.fresh, "Observation", String(repeating: "g", count: 33), by: H.doctor)
        },
        // register: malformed arguments
        Row(description: "an unknown argument", expected: .badArguments) { register(&$0) { $0["note"] = .string("x") } },
        Row(description: "no record", expected: .badArguments) { register(&$0) { $0["record"] = nil } },
        Row(description: "a record id of 31 bytes", expected: .badArguments) { register(&$0) { $0["record"] = .bytes(Array(repeating: 1, count: 31)) } },
        Row(description: "a patient id of 31 bytes", expected: .badArguments) { register(&$0) { $0["patient"] = .bytes(Array(repeating: 1, count: 31)) } },
        Row(description: "no ciphertext hash", expected: .badArguments) { register(&$0) { $0["ciphertextHash"] = nil } },
        Row(description: "a ciphertext hash given as text", expected: .badArguments) { register(&$0) { $0["ciphertextHash"] = .string("abc") } },
        Row(description: "no category", expected: .badArguments) { register(&$0) { $0["category"] = nil } },
        Row(description: "version 0", expected: .badArguments) { register(&$0) { $0["version"] = .int(0) } },
        Row(description: "a version over the maximum", expected: .badArguments) { register(&$0) { $0["version"] = .int(RecordsContract.versionMax + 1) } },
        Row(description: "a version given as text", expected: .badArguments) { register(&$0) { $0["version"] = .string("1") } },
        // registerMany: all or nothing, within limits
        Row(description: "registerMany: every entry applied", expected: .accepted) {
            registerMany(&$0, [entry(Hash256.sha256([0xD1])), entry(Hash256.sha256([0xD2]), "Condition")])
        },
        Row(description: "registerMany: versions 1 and 2 of one record", expected: .accepted) {
            registerMany(&$0, [entry(Hash256.sha256([0xD1])), entry(Hash256.sha256([0xD1]), version: 2)])
        },
        Row(description: "registerMany: as many entries as allowed", expected: .accepted) {
            registerMany(&$0, entries(RecordsContract.registrationsPerTransactionMax))
        },
        Row(description: "registerMany: one entry over the limit", expected: .badArguments) {
            registerMany(&$0, entries(RecordsContract.registrationsPerTransactionMax + 1))
        },
        Row(description: "registerMany: no entries", expected: .badArguments) { registerMany(&$0, []) },
        Row(description: "registerMany: entries not a list", expected: .badArguments) {
            $0.sign(H.doctor, "records", "registerMany", ["entries": entry(Hash256.sha256([0xD1]))])
        },
        Row(description: "registerMany: an entry not a map", expected: .badArguments) {
            registerMany(&$0, [entry(Hash256.sha256([0xD1])), .string("Observation")])
        },
        Row(description: "registerMany: an unknown argument beside the entries", expected: .badArguments) {
            $0.sign(H.doctor, "records", "registerMany", ["entries": .list([entry(Hash256.sha256([0xD1]))]), "note": .string("x")])
        },
        Row(description: "registerMany: a bad last entry refuses the earlier ones too", expected: .unknownResourceType) {
            registerMany(&$0, [entry(Hash256.sha256([0xD3])), entry(Hash256.sha256([0xD4]), "Condition"), entry(Hash256.sha256([0xD5]), "observation")])
        },
        Row(description: "registerMany: an entry conflicting with an earlier one", expected: .versionConflict) {
            registerMany(&$0, [entry(Hash256.sha256([0xD6])), entry(Hash256.sha256([0xD6]))])
        },
        Row(description: "registerMany: an entry for an erased record", expected: .recordErased) {
            registerMany(&$0, [entry(Hash256.sha256([0xD7])), entry(W.erased, version: 2)])
        },
        Row(description: "registerMany signed by a patient", expected: .unauthorized) { registerMany(&$0, [entry(Hash256.sha256([0xD8]))], by: H.patient) },
        // erase: who may erase
        Row(description: "erase by the patient", expected: .accepted) { $0.eraseRecord(W.obs, by: H.patient) },
        Row(description: "erase by the patient's delegate", expected: .accepted) { $0.eraseRecord(W.obs, by: W.guardian) },
        Row(description: "erase by the custodian organization", expected: .accepted) { $0.eraseRecord(W.obs, by: H.hospital) },
        Row(description: "erase by the custodian's admin", expected: .accepted) { $0.eraseRecord(W.obs, by: W.hospitalAdmin) },
        Row(description: "erase by the author, a custodian clinician without admin", expected: .unauthorized) { $0.eraseRecord(W.obs, by: H.doctor) },
        Row(description: "erase by a clinician of another organization", expected: .unauthorized) { $0.eraseRecord(W.obs, by: W.clinicDoctor) },
        Row(description: "erase by another organization", expected: .unauthorized) { $0.eraseRecord(W.obs, by: H.clinic) },
        Row(description: "erase by another organization's admin", expected: .unauthorized) { $0.eraseRecord(W.obs, by: R.clinicAdmin) },
        Row(description: "erase by another patient", expected: .unauthorized) { $0.eraseRecord(W.obs, by: W.otherPatient) },
        Row(description: "erase by a removed delegate", expected: .unauthorized,
            prepare: { [$0.sign(H.patient, "consent", "removeDelegate", ["delegate": .bytes(W.guardian.derivedID.bytes)])] }) {
            $0.eraseRecord(W.obs, by: W.guardian)
        },
        Row(description: "erase by a revoked member", expected: .senderRevoked) { $0.eraseRecord(W.obs, by: W.revokedMember) },
        Row(description: "erase directory data by its custodian", expected: .accepted) { $0.eraseRecord(R.practitioner, by: H.hospital) },
        Row(description: "erase directory data by a patient", expected: .unauthorized) { $0.eraseRecord(R.practitioner, by: H.patient) },
        Row(description: "erase a record about no patient by its custodian", expected: .accepted) { $0.eraseRecord(R.device, by: W.hospitalAdmin) },
        // erase: which records, which arguments
        Row(description: "erase twice", expected: .recordErased) { $0.eraseRecord(W.erased, by: H.patient) },
        Row(description: "erase an unknown record", expected: .unknownRecord) { $0.eraseRecord(W.unknownRecord, by: H.patient) },
        Row(description: "erase with an unknown argument", expected: .badArguments) {
            $0.sign(H.patient, "records", "erase", ["record": .bytes(W.obs.bytes), "why": .string("x")])
        },
        Row(description: "erase without a record", expected: .badArguments) { $0.sign(H.patient, "records", "erase", [:]) },
        // releaseLabel: a label carried over from version 1 (mental-health) to a general version 2
        Row(description: "release a carried label: the patient", expected: .accepted, prepare: downgrade) { release(&$0, by: H.patient) },
        Row(description: "release a carried label: the patient's delegate", expected: .accepted, prepare: downgrade) { release(&$0, by: W.guardian) },
        Row(description: "release a carried label: the custodian's privacy officer", expected: .accepted,
            prepare: { downgrade(&$0) + [$0.enroll(privacyOfficer, by: H.hospital, roles: ["privacy-officer"])] }) { release(&$0, by: privacyOfficer) },
        Row(description: "release a carried label: another organization's privacy officer", expected: .unauthorized,
            prepare: { downgrade(&$0) + [$0.enroll(privacyOfficer, by: H.clinic, roles: ["privacy-officer"])] }) { release(&$0, by: privacyOfficer) },
        Row(description: "release a carried label: the author", expected: .unauthorized, prepare: downgrade) { release(&$0, by: H.doctor) },
        Row(description: "release a carried label: the custodian organization", expected: .unauthorized, prepare: downgrade) {
            release(&$0, by: H.hospital)
        },
        Row(description: "release a carried label: the custodian's admin", expected: .unauthorized, prepare: downgrade) {
            release(&$0, by: W.hospitalAdmin)
        },
        Row(description: "release a label the current version itself carries", expected: .labelNotCarried) { release(&$0, by: H.patient) },
        Row(description: "release a label the record never had", expected: .labelNotCarried, prepare: downgrade) {
            release(&$0, .hiv, by: H.patient)
        },
        Row(description: "release the general category", expected: .badArguments, prepare: downgrade) { release(&$0, .general, by: H.patient) },
        Row(description: "release a label of an unknown record", expected: .unknownRecord) {
            $0.sign(H.patient, RecordsContract.ReleaseLabel(record: W.unknownRecord, category: .mentalHealth))
        },
        Row(description: "release a label of an erased record", expected: .recordErased) {
            $0.sign(H.patient, RecordsContract.ReleaseLabel(record: W.erased, category: .mentalHealth))
        },
        Row(description: "an unknown records method", expected: .unknownMethod) { $0.sign(H.patient, "records", "delete", ["record": .bytes(W.obs.bytes)]) },
    ]

    @Test(arguments: rows)
    func rule(_ row: Row) { row.check(on: R.shared.h) }

    @Test func rowsAreDistinct() {
        #expect(Set(Self.rows.map(\.description)).count == Self.rows.count)
    }

    /// Every result code of the records range (300–399) has at least one row.
    @Test func everyRecordsResultCodeHasARow() {
        let covered = Set(Self.rows.map(\.expected))
        let missing = ResultCode.allCases.filter { (300..<400).contains($0.rawValue) && !covered.contains($0) }
        #expect(missing.isEmpty, "no row for \(missing)")
    }

    /// A refused registerMany names the entry that failed and stores none of them; an accepted one stores all.
    @Test func registerManyIsAllOrNothing() throws {
        var h = R.shared.h
        let (a, b) = (Hash256.sha256([0xF1]), Hash256.sha256([0xF2]))
        let refused = h.run([Self.registerMany(&h, [Self.entry(a), Self.entry(b, "observation")])])[0]
        #expect(refused.code == ResultCode.unknownResourceType.rawValue)
        #expect(refused.message.hasPrefix("entries[1]"), "the failing entry is named: \(refused.message)")
        #expect(RecordIndex.current(a, in: h.state) == nil && RecordIndex.current(b, in: h.state) == nil)
        h.runAccepted([Self.registerMany(&h, [Self.entry(a), Self.entry(b, "Condition")])])
        #expect(RecordIndex.current(a, in: h.state)?.resourceType == "Observation")
        #expect(RecordIndex.current(b, in: h.state)?.resourceType == "Condition")
        #expect(RecordIndex.current(b, in: h.state)?.custodian == Harness.hospital.derivedID)
    }

    /// Every directory resource type is registered without a patient, and refused with one.
    @Test(arguments: RecordsContract.directoryResourceTypes.sorted())
    func directoryTypesHaveNoPatient(_ type: String) {
        var h = R.shared.h
        let withPatient = h.run([h.putRecord(R.fresh, type, "general", by: Harness.doctor)])[0]
        #expect(withPatient.code == ResultCode.badArguments.rawValue, "\(type): \(withPatient.message)")
        let without = h.run([h.putRecord(R.fresh, type, "general", by: Harness.doctor, patient: nil)])[0]
        #expect(without.isAccepted, "\(type): \(without.message)")
        #expect(RecordIndex.current(R.fresh, in: h.state)?.patient == RecordEntry.noPatient)
    }
}
