@testable import Contracts
import LedgerCore
import Testing

/// Security review finding 4 (record listings): "staff" meant any role at any custodian on the
/// node — a clinic's clerk listed a hospital patient's records with their categories, and any
/// custodian's staff saw any record's entry, and an auditor of one organization read another's
/// patients' access logs. Now only care and record-keeping roles list, and everyone but the patient
/// side sees only their own organization's entries and reads.
@Suite("Record listings: own organization's entries, care and record-keeping roles only")
struct RecordListingFindingTests {
    static let k = Harness.keys
    static let hospitalClerk = k(120), hospitalClinician = Harness.doctor, clinicClinician = k(121), clinicResearcher = k(122)
    static let hospitalAuditor = k(123), clinicAuditor = k(124)
    static let hospitalRecord = Hash256.sha256(Array("hospital-record".utf8)), clinicRecord = Hash256.sha256(Array("clinic-record".utf8))

    /// A node holding both the hospital and the clinic, as in the review.
    static let custodians: Set<IdentityID> = [Harness.hospital.derivedID, Harness.clinic.derivedID]

    static let state: MemoryState = {
        var h = Harness.standard()
        _ = h.runAccepted([h.enroll(hospitalClerk, by: Harness.hospital, roles: ["supply-chain"]),
                           h.enroll(clinicClinician, by: Harness.clinic, roles: ["clinician"]),
                           h.enroll(clinicResearcher, by: Harness.clinic, roles: ["researcher"]),
                           h.enroll(hospitalAuditor, by: Harness.hospital, roles: ["auditor"]),
                           h.enroll(clinicAuditor, by: Harness.clinic, roles: ["auditor"])])
        _ = h.runAccepted([h.putRecord(hospitalRecord, "Observation", "hiv", by: Harness.doctor),
                           h.putRecord(clinicRecord, "Observation", "general", by: clinicClinician)])
        return h.state
    }()

    static func entry(custodian: IdentityKeys, category: SensitivityCategory = .hiv) -> RecordEntry {
        RecordEntry(record: Hash256.sha256(custodian.derivedID.bytes), patient: Harness.patient.derivedID, resourceType: "Observation",
                    category: category, author: custodian.derivedID, custodian: custodian.derivedID,
                    ciphertextHash: Hash256.sha256([1]), version: 1, height: 1, timeMs: 0)
    }

    static func identity(_ keys: IdentityKeys) -> Identity { Directory.identity(keys.derivedID, in: state)! }

    /// (who, may list, sees the hospital's entry, sees the clinic's entry) — before the consent
    /// decision each entry shown to anyone but the patient side also needs (`RecordListingDecisionFindingTests`).
    static let rows: [(String, IdentityKeys, Bool, Bool, Bool)] = [
        ("patient", Harness.patient, true, true, true),
        ("hospital (itself)", Harness.hospital, true, true, false),
        ("hospital clinician", hospitalClinician, true, true, false),
        ("hospital supply-chain clerk", hospitalClerk, false, false, false),
        ("clinic clinician", clinicClinician, true, false, true),
        ("clinic researcher", clinicResearcher, false, false, false),
    ]

    @Test(arguments: 0..<rows.count)
    func whoSeesWhat(row: Int) {
        let (name, keys, lists, hospitalEntry, clinicEntry) = Self.rows[row]
        let requester = Self.identity(keys)
        let patient = Harness.patient.derivedID
        #expect(ReadRules.mayListRecords(of: patient, requester, custodians: Self.custodians, Self.state) == lists, "\(name): list")
        #expect(ReadRules.mayListEntry(Self.entry(custodian: Harness.hospital), requester, custodians: Self.custodians, Self.state) == hospitalEntry,
                "\(name): hospital entry")
        #expect(ReadRules.mayListEntry(Self.entry(custodian: Harness.clinic), requester, custodians: Self.custodians, Self.state) == clinicEntry,
                "\(name): clinic entry")
    }

    /// Finding 4, access logs: an auditor of one organization read another's patients' access logs.
    /// (who, may read the log, sees reads of the hospital's record, sees reads of the clinic's record)
    static let logRows: [(String, IdentityKeys, Bool, Bool, Bool)] = [
        ("patient", Harness.patient, true, true, true),
        ("hospital auditor", hospitalAuditor, true, true, false),
        ("clinic auditor", clinicAuditor, true, false, true),
        ("clinic clinician", clinicClinician, false, false, true),
    ]

    @Test(arguments: 0..<logRows.count)
    func accessLogEntries(row: Int) {
        let (name, keys, reads, hospitalReads, clinicReads) = Self.logRows[row]
        let requester = Self.identity(keys)
        let patient = Harness.patient.derivedID
        #expect(ReadRules.mayReadAccessLog(of: patient, requester, custodians: Self.custodians, Self.state) == reads, "\(name): the log")
        #expect(ReadRules.mayReadAccessLogEntry(about: Self.hospitalRecord, of: patient, requester, Self.state) == hospitalReads,
                "\(name): reads of the hospital's record")
        #expect(ReadRules.mayReadAccessLogEntry(about: Self.clinicRecord, of: patient, requester, Self.state) == clinicReads,
                "\(name): reads of the clinic's record")
    }
}
