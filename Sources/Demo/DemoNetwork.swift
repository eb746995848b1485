import Console
import ConsortiumNetwork
import Contracts
import FHIR
import Foundation
import LedgerCore
import Services
import Storage
import Vault

/// `careledger demo --network`: the records story over a local consortium — five organizations,
/// each with its own node process, keys, vault and copy of the chain, ordered by a 3-member etcd
/// cluster. Everything goes over HTTP, as separate organizations would: the hospital's clinician
/// writes a record on the hospital's node; the patient, who holds her own keys, finds it and
/// consents through the clinic's node; the clinic's clinician then reads it through the clinic's
/// node, which asks the hospital's node; the hospital's node decides, logs and releases it. Then a
/// private claim (hospital and health plan) and a private prescription (clinic and hospital,
/// endorsed by both nodes before it is ordered).
struct NetworkDemo {
    let root: URL
    var story = Story(chapters: 7)

    static let hospital = "general-hospital", clinic = "city-clinic", laboratory = "northside-lab", payer = "acme-health-plan"
    static let manufacturer = "nordic-pharma"
    static let all = [hospital, clinic, laboratory, payer, manufacturer]
    /// What each node holds of the private collections: the records' labels (hospital), the claim's
    /// (hospital, plan), the prescription's (clinic, hospital).
    static let collectionsHeld = [hospital: 3, clinic: 1, laboratory: 0, payer: 1, manufacturer: 0]
    static let observationValue = "eGFR 52 mL/min/1.73m2 (network demo)"
    static let familyName = "Okonkwo-Lindqvist"

    func expect(_ condition: Bool, _ what: String) throws {
        if !condition { throw CLIError("demo check failed: \(what)") }
    }

    mutating func run() async throws {
        Terminal.line("CareLedger demo --network — five organizations, one ledger, ordered by etcd (Raft)")
        Terminal.line("data: \(root.path)")
        _ = try LocalNetwork.etcdBinary()  // a clear error before anything is created when etcd is missing

        story.chapter("Starting a consortium: an etcd cluster and a node per organization")
        let network = try Self.create(root: root)
        story.ok("one genesis names \(network.layout.organizations.count) founding organizations; each has its own data directory, keys and vault")
        do {
            try await network.up()
            for state in await network.status() where state.health?["chainId"] != nil {
                story.note("\(pad(state.name, 18)) node pid \(state.pid.map(String.init) ?? "?")  \(state.url)")
            }
            story.ok("3 etcd members (Raft) order the blocks; every node executes every block and attests its state root")
            try await tell(network)
        } catch {
            try? await network.down()
            throw error
        }
        try await network.down()
        story.ok("`careledger network down`: every node finished its blocks and stopped, then etcd")
        try checkPrivateHoldings(network)
    }

    /// Read from the stopped nodes' stores: the claim's collection is on the hospital's and the
    /// health plan's nodes, the prescription's on the clinic's and the hospital's; the laboratory's
    /// and the manufacturer's hold no private payload or state.
    func checkPrivateHoldings(_ network: LocalNetwork) throws {
        var holdings: [String] = []
        for name in Self.all {
            let store = try DataDirectory(url: network.root.appendingPathComponent("orgs/\(name)"), passphrase: nil).openStore()
            let namespaces = try store.privateNamespaces()
            try expect(namespaces.count == Self.collectionsHeld[name], "\(name) holds \(namespaces.count) private collections")
            holdings.append("\(name) \(namespaces.count)")
        }
        story.ok("read from the stopped nodes' stores, private collections held: \(holdings.joined(separator: ", "))")
    }

    /// A new network on a free port range (retried when a port is taken), below Linux's ephemeral
    /// ports (32768 on): an outgoing connection elsewhere on the machine cannot hold one of them.
    static func create(root: URL) throws -> LocalNetwork {
        let organizations = [OrganizationSpec(name: hospital, type: .hospital), OrganizationSpec(name: clinic, type: .clinic),
                             OrganizationSpec(name: laboratory, type: .laboratory), OrganizationSpec(name: payer, type: .payer),
                             OrganizationSpec(name: manufacturer, type: .manufacturer)]
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try LocalNetwork.create(root: root, chainId: "careledger-network-demo", organizations: organizations, etcdMembers: 3,
                                               basePort: Int.random(in: 200...320) * 100, plainKeys: false, passphrase: nil)
            } catch let error as ServiceError where attempt < 5 && "\(error)".contains("in use") {
                continue
            }
        }
    }

    private mutating func tell(_ network: LocalNetwork) async throws {
        let passphrase = try String(contentsOf: network.root.appendingPathComponent("passphrase"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let chainId = network.layout.chainId
        func url(_ name: String) throws -> String {
            guard let port = network.layout.organizations.first(where: { $0.name == name })?.port else { throw CLIError("no node \(name)") }
            return "http://127.0.0.1:\(port)"
        }
        func orgKeys(_ name: String) throws -> IdentityKeys {
            try DataDirectory(url: network.root.appendingPathComponent("orgs/\(name)"), passphrase: passphrase).loadKey(name)
        }
        let (hospitalURL, clinicURL, labURL) = (try url(Self.hospital), try url(Self.clinic), try url(Self.laboratory))
        let hospital = try orgKeys(Self.hospital), clinic = try orgKeys(Self.clinic), laboratory = try orgKeys(Self.laboratory)

        story.chapter("Members and a patient who holds her own keys")
        var names: [String: String] = [:]
        var staff: [String: IdentityKeys] = [:]
        for (organization, keys, base, member) in [(Self.hospital, hospital, hospitalURL, "dr-rivera"), (Self.clinic, clinic, clinicURL, "dr-chen"),
                                                   (Self.laboratory, laboratory, labURL, "dr-okoro")] {
            let token = try await DemoScript.token(base: base, keys: keys)
            let memberKeys = IdentityKeys.generate()
            staff[member] = memberKeys
            names[memberKeys.derivedID.hex] = "\(member) (\(organization))"
            let answer = try await Self.submit(base, token: token, chainId: chainId, signer: keys, sequence: try await Self.nextSequence(base, token: token),
                                               MembershipContract.Enroll(label: member, roles: [.clinician], signingKey: memberKeys.signingPublicKey,
                                                                         agreementKey: memberKeys.agreementPublicKey))
            story.ok("\(organization) enrolled \(member) as clinician through its own node: block \(answer["height"] ?? "?"), \(answer["status"] ?? "?")")
        }
        // The hospital's pharmacist, for the prescription chapter: enrolled now, while no read has
        // made the hospital's node sign anything with the hospital's key (its audit anchors).
        let pharmacist = IdentityKeys.generate()
        let hospitalToken = try await DemoScript.token(base: hospitalURL, keys: hospital)
        _ = try await Self.submit(hospitalURL, token: hospitalToken, chainId: chainId, signer: hospital,
                                  sequence: try await Self.nextSequence(hospitalURL, token: hospitalToken),
                                  MembershipContract.Enroll(label: "ph-lee", roles: [.pharmacist], signingKey: pharmacist.signingPublicKey,
                                                            agreementKey: pharmacist.agreementPublicKey))
        story.ok("general-hospital enrolled ph-lee as pharmacist through its own node")
        let patient = IdentityKeys.generate()
        names[patient.derivedID.hex] = "the patient"
        let clinicToken = try await DemoScript.token(base: clinicURL, keys: clinic)
        let registered = try await Self.submit(clinicURL, token: clinicToken, chainId: chainId, signer: patient, sequence: 1,
                                               MembershipContract.RegisterPatient(agreementKey: patient.agreementPublicKey))
        story.ok("a patient registered with keys she holds (sent through city-clinic's node): block \(registered["height"] ?? "?"); on-chain she is the pseudonym \(patient.derivedID.hex.prefix(16))…")
        story.note("“final”: a quorum of the organizations' nodes signed the same block hash and state root")

        story.chapter("The hospital writes a record on its own node")
        let rivera = staff["dr-rivera"]!, chen = staff["dr-chen"]!, okoro = staff["dr-okoro"]!
        let riveraToken = try await DemoScript.token(base: hospitalURL, keys: rivera)
        let patientResource = """
        {"resourceType":"Patient","name":[{"family":"\(Self.familyName)","given":["Ada"]}],"gender":"female","birthDate":"1957-02-14",
         "identifier":[{"system":"\(ClaimMapping.identitySystem)","value":"\(patient.derivedID.hex)"}]}
        """
        let created = try await DemoScript.http("\(hospitalURL)/fhir/Patient", method: "POST", token: riveraToken, body: Data(patientResource.utf8))
        try expect(created.status == 201, "POST /fhir/Patient: \(created.status) \(String(decoding: created.body.prefix(300), as: UTF8.self))")
        guard let patientID = ((try? JSONSerialization.jsonObject(with: created.body)) as? [String: Any])?["id"] as? String else {
            throw CLIError("demo check failed: the created Patient has no id")
        }
        let observation = """
        {"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"33914-3"}]},
         "subject":{"reference":"Patient/\(patientID)"},"effectiveDateTime":"2026-11-20","valueString":"\(Self.observationValue)"}
        """
        let written = try await DemoScript.http("\(hospitalURL)/fhir/Observation", method: "POST", token: riveraToken, body: Data(observation.utf8))
        try expect(written.status == 201, "POST /fhir/Observation: \(written.status) \(String(decoding: written.body.prefix(300), as: UTF8.self))")
        story.ok("dr-rivera POSTed the patient's Patient and Observation to general-hospital's /fhir: encrypted in general-hospital's vault only")
        story.note("the Patient names the patient's ledger id (identifier \(ClaimMapping.identitySystem)), so no keys were generated for her")

        let patientClinicToken = try await DemoScript.token(base: clinicURL, keys: patient)
        // Each node commits each block itself: the clinic's node lists them once it has the hospital's latest block.
        try await Self.waitForHeight(clinicURL, try await Self.height(hospitalURL))
        let listing = try await DemoScript.json("\(clinicURL)/v1/patients/\(patient.derivedID.hex)/records", token: patientClinicToken)
        let records = listing["records"] as? [[String: Any]] ?? []
        try expect(records.count == 2 && records.allSatisfy { $0["custodian"] as? String == hospital.derivedID.hex }, "the patient's listing at the clinic: \(records)")
        guard let entry = records.first(where: { $0["resource_type"] as? String == "Observation" }), let recordHex = entry["record"] as? String,
              let record = Hash256(hex: recordHex) else { throw CLIError("demo check failed: no Observation in the patient's listing") }
        story.ok("the patient lists her records at city-clinic's node: 2 records, custodian general-hospital — every node holds the chain, ids and hashes only")
        let patientHospitalListing = try await DemoScript.json("\(hospitalURL)/v1/patients/\(patient.derivedID.hex)/records",
                                                               token: try await DemoScript.token(base: hospitalURL, keys: patient))
        let categories = (patientHospitalListing["records"] as? [[String: Any]] ?? []).compactMap { $0["category"] as? String }
        try expect(records.allSatisfy { $0["category"] as? String == "withheld" } && categories == ["general", "general"],
                   "the records' categories: \(records.map { $0["category"] ?? "?" }) at the clinic, \(categories) at the hospital")
        story.note("their sensitivity categories read “withheld” there and “general” at general-hospital's node: a record's labels go to its custodian's node only")

        story.chapter("Reading across organizations, after consent")
        let chenToken = try await DemoScript.token(base: clinicURL, keys: chen)
        let release = "/v1/records/\(recordHex)/release?purpose=TREAT"
        let before = try await DemoScript.http(clinicURL + release, token: chenToken)
        try expect(before.status == 404, "dr-chen before consent must get 404, got \(before.status)")
        story.refused("dr-chen asks city-clinic's node for the Observation: 404 — general-hospital's node decided (no consent) and logged the refusal")

        let grant = ConsentContract.Grant(patient: patient.derivedID, grantee: .organization(clinic.derivedID), categories: nil,
                                          resourceTypes: ["Observation"], records: nil, purposes: [.treatment], actions: [.read])
        let consent = try await Self.submit(clinicURL, token: patientClinicToken, chainId: chainId, signer: patient,
                                            sequence: try await Self.nextSequence(clinicURL, token: patientClinicToken), grant)
        story.ok("the patient signed consent.grant for city-clinic (Observations, treatment, read) and sent it through city-clinic's node: block \(consent["height"] ?? "?"), \(consent["status"] ?? "?")")

        // Final means a quorum of the five attested it and the hospital's node, which decides, may be a block behind: the
        // clinic's node sends its own height with the request, and the hospital's waits for it before deciding.
        let after = try await DemoScript.http(clinicURL + release, token: chenToken)
        try expect(after.status == 200, "dr-chen after consent: \(after.status) \(String(decoding: after.body.prefix(300), as: UTF8.self))")
        let content = try Self.open(after.body, record: record, as: chen)
        try expect(String(decoding: content, as: UTF8.self).contains(Self.observationValue), "the decrypted Observation")
        story.ok("dr-chen asks again: city-clinic's node forwards the request signed with city-clinic's key; general-hospital's node decides on its own copy of the chain, logs, and returns the ciphertext with the data key wrapped to dr-chen")
        story.ok("dr-chen decrypts it himself: “\(Self.observationValue)”")

        let search = try await DemoScript.json("\(clinicURL)/fhir/Observation?code=33914-3", token: chenToken)
        let outcome = (search["entry"] as? [[String: Any]] ?? []).first { ($0["search"] as? [String: Any])?["mode"] as? String == "outcome" }
        let said = (((outcome?["resource"] as? [String: Any])?["issue"] as? [[String: Any]])?.first?["diagnostics"] as? String) ?? ""
        try expect(search["total"] as? Int == 0 && said.contains("no federated search"), "the clinic's FHIR search: \(search)")
        story.note("a FHIR search at city-clinic's node finds 0 Observations and says why: “\(said.prefix(96))…”")

        let okoroToken = try await DemoScript.token(base: labURL, keys: okoro)
        let lab = try await DemoScript.http(labURL + release, token: okoroToken)
        try expect(lab.status == 404, "dr-okoro (no consent) must get 404, got \(lab.status)")
        story.refused("dr-okoro asks northside-lab's node for it: 404 — the consent names city-clinic only")

        let patientHospitalToken = try await DemoScript.token(base: hospitalURL, keys: patient)
        let log = try await DemoScript.json("\(hospitalURL)/v1/patients/\(patient.derivedID.hex)/access-log", token: patientHospitalToken)
        let entries = (log["entries"] as? [[String: Any]] ?? []).filter { $0["record"] as? String == recordHex }
        story.note("the patient's access log at general-hospital's node, the record's custodian:")
        for item in entries {
            let who = names[item["requester"] as? String ?? ""] ?? String((item["requester"] as? String ?? "?").prefix(12))
            let mark = item["outcome"] as? String == "deny" ? "✗" : "✓"
            story.note("  \(mark) #\(item["index"] ?? "?") \(pad(who, 28)) \(pad(item["purpose"] as? String ?? "", 6)) \(item["outcome"] ?? "") \(item["reason"] ?? "")")
        }
        try expect(entries.count == 3 && entries.filter { $0["outcome"] as? String == "deny" }.count == 2, "the access log: \(entries)")

        try await tellPrivateClaim(network, chainId: chainId, patient: patient, patientID: patientID, rivera: rivera, chen: chen,
                                   payer: try orgKeys(Self.payer), urls: (hospitalURL, clinicURL, labURL, try url(Self.payer)))

        try await tellPrivatePrescription(chainId: chainId, patient: patient, chen: chen, okoro: okoro, pharmacist: pharmacist,
                                          hospital: hospital, clinic: clinic,
                                          manufacturer: try orgKeys(Self.manufacturer),
                                          urls: (hospitalURL, clinicURL, labURL, try url(Self.manufacturer)))

        story.chapter("One ledger, five copies")
        for health in try await Self.converged(network) {
            story.note("\(pad(health["name"] as? String ?? "?", 18)) height \(health["height"] ?? "?"), final \(health["finalHeight"] ?? "?"), "
                       + "state root \(String("\(health["stateRoot"] ?? "")".prefix(16)))…")
        }
        story.ok("every node executed every block to the same state root and signed its attestation with its own organization's key")
        let leaks = try PlaintextScan.find([Self.familyName, Self.observationValue], under: network.root)
        try expect(leaks.isEmpty, "plaintext PHI in the network's files: \(leaks)")
        story.ok("no file of any node or etcd member holds the patient's name or the Observation's value")
    }

    /// A claim sent privately: its lines and diagnoses reach the hospital's and the health plan's
    /// nodes only; every node orders and attests the block that commits it.
    private mutating func tellPrivateClaim(_ network: LocalNetwork, chainId: String, patient: IdentityKeys, patientID: String, rivera: IdentityKeys,
                                           chen: IdentityKeys, payer: IdentityKeys,
                                           urls: (hospital: String, clinic: String, lab: String, payer: String)) async throws {
        story.chapter("A private claim: only the hospital's and the health plan's nodes hold it")
        let payerToken = try await DemoScript.token(base: urls.payer, keys: payer)
        let nowMs = Int64(Date().timeIntervalSince1970 * 1_000), day: Int64 = 86_400_000
        let enrollment = CoverageEnrollment(plan: "GOLD", patient: patient.derivedID, startMs: nowMs - 30 * day, endMs: nowMs + 300 * day)
        _ = try await Self.submit(urls.payer, token: payerToken, chainId: chainId, signer: payer,
                                  sequence: try await Self.nextSequence(urls.payer, token: payerToken),
                                  ClaimsContract.RegisterPlan(plan: "GOLD", currency: "USD", deductible: 10_000, coinsurance: 2_000,
                                                              outOfPocketMax: 100_000, benefits: [.init(code: "99213", allowed: 15_000)]))
        _ = try await Self.submit(urls.payer, token: payerToken, chainId: chainId, signer: payer,
                                  sequence: try await Self.nextSequence(urls.payer, token: payerToken),
                                  enrollment.call)
        story.ok("acme-health-plan registered plan GOLD and enrolled the patient through its own node")
        let riveraToken = try await DemoScript.token(base: urls.hospital, keys: rivera)
        let encounterJSON = """
            {"resourceType":"Encounter","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},
             "subject":{"reference":"Patient/\(patientID)"}}
            """
        let encounter = try await DemoScript.http("\(urls.hospital)/fhir/Encounter", method: "POST", token: riveraToken, body: Data(encounterJSON.utf8))
        guard encounter.status == 201, let encounterID = ((try? JSONSerialization.jsonObject(with: encounter.body)) as? [String: Any])?["id"] as? String else {
            throw CLIError("demo check failed: POST /fhir/Encounter answered \(encounter.status)")
        }
        let today = String(ISO8601DateFormatter().string(from: Date()).prefix(10))
        let claim = """
            {"resourceType":"Claim","status":"active","use":"claim","created":"\(today)","identifier":[{"system":"urn:demo:claims","value":"NET-1"}],
             "type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"professional"}]},
             "patient":{"reference":"Patient/\(patientID)"},"provider":{"reference":"Organization/general-hospital"},
             "priority":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/processpriority","code":"normal"}]},
             "insurance":[{"sequence":1,"focal":true,"coverage":{"identifier":{"system":"\(ClaimMapping.memberSystemPrefix)GOLD","value":"\(enrollment.memberID.hex)"}}}],
             "diagnosis":[{"sequence":1,"diagnosisCodeableConcept":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"N18.3"}]}}],
             "item":[{"sequence":1,"productOrService":{"coding":[{"system":"http://www.ama-assn.org/go/cpt","code":"99213"}]},"servicedDate":"\(today)",
                      "quantity":{"value":1},"unitPrice":{"value":200.00,"currency":"USD"},"encounter":[{"reference":"Encounter/\(encounterID)"}]}]}
            """
        let submitted = try await DemoScript.http("\(urls.hospital)/fhir/Claim/$submit", method: "POST", token: riveraToken, body: Data(claim.utf8))
        let response = ((try? JSONSerialization.jsonObject(with: submitted.body)) as? [String: Any]) ?? [:]
        guard submitted.status == 200, let responseID = response["id"] as? String else {
            throw CLIError("demo check failed: Claim/$submit answered \(submitted.status): \(String(decoding: submitted.body.prefix(300), as: UTF8.self))")
        }
        story.ok("dr-rivera submitted a claim (diagnosis N18.3, a 99213 visit) at general-hospital's node, adjudicated on-chain: “\(response["disposition"] as? String ?? "?")”")
        story.note("the shared chain carries a commitment and the two organizations; the lines, diagnoses and amounts went to acme-health-plan's node only")

        // The health plan's node commits the block once it has the payload (asked of the hospital's node).
        var atPayer = try await DemoScript.http("\(urls.payer)/fhir/ClaimResponse/\(responseID)", token: payerToken)
        let deadline = ContinuousClock.now + .seconds(20)
        while atPayer.status == 404, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            atPayer = try await DemoScript.http("\(urls.payer)/fhir/ClaimResponse/\(responseID)", token: payerToken)
        }
        try expect(atPayer.status == 200, "the health plan reads the ClaimResponse at its own node: \(atPayer.status)")
        story.ok("acme-health-plan reads the ClaimResponse at its own node (200): its node fetched the payload from general-hospital's over mutual TLS and checked it against the commitment")
        let chenToken = try await DemoScript.token(base: urls.clinic, keys: chen)
        let atClinic = try await DemoScript.http("\(urls.clinic)/fhir/ClaimResponse/\(responseID)", token: chenToken)
        try expect(atClinic.status == 404, "the clinic must not see the claim: \(atClinic.status)")
        var held: [String] = []
        for (name, base) in [(Self.hospital, urls.hospital), (Self.clinic, urls.clinic), (Self.laboratory, urls.lab), (Self.payer, urls.payer)] {
            let health = (try? JSONSerialization.jsonObject(with: try await DemoScript.http(base + "/healthz").body)) as? [String: Any]
            guard let fetched = (health?["privatePayloads"] as? [String: Any])?["fetched"] as? Int else {
                throw CLIError("demo check failed: \(name)'s /healthz has no privatePayloads")
            }
            held.append("\(name) \(fetched)")
            try expect(fetched == (name == Self.payer ? 1 : 0), "\(name) fetched \(fetched) private payloads")
        }
        story.refused("dr-chen asks city-clinic's node for it: 404 — city-clinic's and northside-lab's nodes committed its block with the commitment only")
        story.note("private payloads fetched from a peer (/healthz): \(held.joined(separator: ", ")) — the hospital's node had it from the start")
    }

    /// A prescription between the clinic (prescriber) and the hospital's pharmacy, which it names:
    /// an endorsed private call. Each is simulated at the submitting node and at the other
    /// organization's node, which signs the same outcome; the fill's shared write (the unit
    /// dispensed) then reaches every node, the prescription only the pair's.
    private mutating func tellPrivatePrescription(chainId: String, patient: IdentityKeys, chen: IdentityKeys, okoro: IdentityKeys,
                                                  pharmacist: IdentityKeys, hospital: IdentityKeys, clinic: IdentityKeys,
                                                  manufacturer: IdentityKeys,
                                                  urls: (hospital: String, clinic: String, lab: String, manufacturer: String)) async throws {
        story.chapter("A private prescription, endorsed by the clinic's and the hospital's nodes")
        let gtin = "00312345678906", units = [SGTIN(gtin: "00312345678906", serial: "NET001"), SGTIN(gtin: "00312345678906", serial: "NET002")]
        let nowMs = Int64(Date().timeIntervalSince1970 * 1_000), day: Int64 = 86_400_000
        let pharmaToken = try await DemoScript.token(base: urls.manufacturer, keys: manufacturer)
        for call in [SupplyChainContract.RegisterProduct(gtin: gtin, label: "Amoxicillin 500 mg") as any ContractMethod,
                     SupplyChainContract.Commission(gtin: gtin, lot: "NP-24", expiryMs: nowMs + 365 * day, serials: units.map(\.serial)),
                     SupplyChainContract.Ship(to: hospital.derivedID, units: units)] {
            _ = try await Self.submit(urls.manufacturer, token: pharmaToken, chainId: chainId, signer: manufacturer,
                                      sequence: try await Self.nextSequence(urls.manufacturer, token: pharmaToken), call)
        }
        // The hospital's own key also signs on its node (audit anchors): its pharmacist signs these.
        let pharmacistToken = try await DemoScript.token(base: urls.hospital, keys: pharmacist)
        _ = try await Self.submit(urls.hospital, token: pharmacistToken, chainId: chainId, signer: pharmacist,
                                  sequence: try await Self.nextSequence(urls.hospital, token: pharmacistToken),
                                  SupplyChainContract.Receive(from: manufacturer.derivedID, units: units))
        story.ok("nordic-pharma commissioned two serialized packs and shipped them to general-hospital's pharmacy, which received them (shared supply chain)")

        let pair: Set = [clinic.derivedID, hospital.derivedID]
        let chenToken = try await DemoScript.token(base: urls.clinic, keys: chen)
        let issue = PrescriptionContract.Issue(medicationRequestHash: Hash256.sha256(Array("MedicationRequest/amoxicillin/network-demo".utf8)),
                                               patient: patient.derivedID, gtin: gtin, quantity: 1, refills: 0, expiresMs: nowMs + 30 * day,
                                               pharmacies: [hospital.derivedID])
        let issued = try await Self.submitEndorsed(urls.clinic, token: chenToken, chainId: chainId, signer: chen, issue, for: pair)
        guard let prescription = (issued.endorsement["call_id"] as? String).flatMap(Hash256.init(hex:)) else {
            throw CLIError("demo check failed: /v1/endorse gave no call_id: \(issued.endorsement)")
        }
        story.ok("dr-chen issued a prescription naming general-hospital's pharmacy: city-clinic's node simulated it, general-hospital's node "
                 + "simulated it too and signed the same outcome; block \(issued.answer["height"] ?? "?"), \(issued.answer["status"] ?? "?")")
        // Final is a quorum's attestation; the hospital's node commits the block once it has fetched the payload from the clinic's.
        try await Self.waitForHeight(urls.hospital, issued.answer["height"] as? Int ?? 0)
        let filled = try await Self.submitEndorsed(urls.hospital, token: pharmacistToken, chainId: chainId, signer: pharmacist,
                                                   PrescriptionContract.Fill(prescription: prescription, units: [units[0]]), for: pair)
        story.ok("ph-lee, general-hospital's pharmacist, filled it with pack NET001 through the hospital's node, endorsed by city-clinic's node: block "
                 + "\(filled.answer["height"] ?? "?"), \(filled.answer["status"] ?? "?")")

        try await Self.waitForHeight(urls.clinic, filled.answer["height"] as? Int ?? 0)
        let atClinic = try await DemoScript.json("\(urls.clinic)/v1/prescriptions/\(prescription.hex)", token: chenToken)
        try expect(atClinic["fills_used"] as? Int == 1, "the prescription at city-clinic's node: \(atClinic)")
        let okoroToken = try await DemoScript.token(base: urls.lab, keys: okoro)
        try await Self.waitForHeight(urls.lab, filled.answer["height"] as? Int ?? 0)
        let unit = try await DemoScript.json("\(urls.lab)/v1/supply/serials/\(gtin)/NET001", token: okoroToken)
        try expect(unit["status"] as? String == "dispensed", "pack NET001 at northside-lab's node: \(unit)")
        let elsewhere = try await DemoScript.http("\(urls.lab)/v1/prescriptions/\(prescription.hex)", token: okoroToken)
        try expect(elsewhere.status == 404, "the prescription at northside-lab's node must be unknown, got \(elsewhere.status)")
        story.ok("dr-chen reads it at city-clinic's node: 1 fill of 1; northside-lab's node shows pack NET001 dispensed (shared supply chain)")
        story.refused("but it knows no such prescription: 404 — its product, quantity, patient and pharmacy went to the two nodes only")
    }

    // MARK: HTTP helpers

    /// The height of the node at `base`.
    static func height(_ base: String) async throws -> Int {
        let health = (try? JSONSerialization.jsonObject(with: try await DemoScript.http(base + "/healthz").body)) as? [String: Any]
        guard let height = health?["height"] as? Int else { throw CLIError("demo check failed: \(base)/healthz has no height") }
        return height
    }

    /// Waits (up to 20 s) until the node at `base` has committed block `height`.
    static func waitForHeight(_ base: String, _ height: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let health = (try? JSONSerialization.jsonObject(with: try await DemoScript.http(base + "/healthz").body)) as? [String: Any]
            if let at = health?["height"] as? Int, at >= height { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw CLIError("demo check failed: the node at \(base) did not commit block \(height) within 20 s")
    }

    /// An endorsed private call: `POST /v1/endorse` with the call (its arguments the private
    /// envelope) and its payload, then the call signed with the endorsed arguments posted to
    /// `/v1/txs` with the payload, waited on until final. The endorsement and the node's answer.
    static func submitEndorsed<Call: ContractMethod>(_ base: String, token: String, chainId: String, signer: IdentityKeys, _ call: Call,
                                                     for organizations: Set<IdentityID>) async throws
        -> (endorsement: [String: Any], answer: [String: Any]) {
        // The payload with a fresh salt, and its envelope as the arguments to endorse.
        let unsigned = UnsignedCall(signer, endorsedCall: call, for: organizations)
        guard let payload = unsigned.payload else { throw CLIError("an endorsed call has a payload") }
        let sequence = try await nextSequence(base, token: token)
        func body(_ args: CanonicalValue) -> TransactionBody {
            TransactionBody(chainId: chainId, sender: signer.derivedID, publicKey: signer.signingPublicKey, sequence: sequence,
                            contract: Call.Methods.contract, method: Call.method.rawValue, args: args)
        }
        let draft = Transaction.sign(body(unsigned.args), with: signer)
        let request = try JSONSerialization.data(withJSONObject: ["transaction": Data(draft.bytes).base64EncodedString(),
                                                                  "private": Data(payload.encoded).base64EncodedString()])
        let endorsed = try await DemoScript.http("\(base)/v1/endorse", method: "POST", token: token, body: request, contentType: "application/json")
        let endorsement = (try? JSONSerialization.jsonObject(with: endorsed.body)) as? [String: Any] ?? [:]
        guard endorsed.status == 200, let args = (endorsement["args"] as? String).flatMap({ Data(base64Encoded: $0) }),
              let value = try? CanonicalValue(decoding: Array(args)) else {
            throw CLIError("demo check failed: /v1/endorse for \(Call.Methods.contract).\(Call.method.rawValue) answered \(endorsed.status): \(endorsement)")
        }
        let tx = Transaction.sign(body(value), with: signer)
        let submission = try JSONSerialization.data(withJSONObject: ["transaction": Data(tx.bytes).base64EncodedString(),
                                                                     "private": Data(payload.encoded).base64EncodedString()])
        let answer = try await DemoScript.http("\(base)/v1/txs?wait=final&timeout_ms=30000", method: "POST", token: token, body: submission,
                                               contentType: "application/json")
        let json = (try? JSONSerialization.jsonObject(with: answer.body)) as? [String: Any] ?? [:]
        guard answer.status == 200, json["status"] as? String == "final" else {
            throw CLIError("demo check failed: \(Call.Methods.contract).\(Call.method.rawValue) answered \(answer.status): \(json)")
        }
        return (endorsement, json)
    }

    /// The signer's next sequence number as its node sees it.
    static func nextSequence(_ base: String, token: String) async throws -> UInt64 {
        let me = try await DemoScript.json("\(base)/v1/identities/me", token: token)
        guard let next = me["next_sequence"] as? Int else { throw CLIError("demo check failed: /v1/identities/me has no next_sequence") }
        return UInt64(next)
    }

    /// Signs a call, posts it to a node's `/v1/txs` and waits until it is final; the node's answer.
    static func submit<Call: ContractMethod>(_ base: String, token: String, chainId: String, signer: IdentityKeys, sequence: UInt64,
                                             _ call: Call) async throws -> [String: Any] {
        let tx = Transaction.sign(TransactionBody(chainId: chainId, sender: signer.derivedID, publicKey: signer.signingPublicKey,
                                                  sequence: sequence, call: call), with: signer)
        let body = try JSONSerialization.data(withJSONObject: ["transaction": Data(tx.bytes).base64EncodedString()])
        let answer = try await DemoScript.http("\(base)/v1/txs?wait=final&timeout_ms=30000", method: "POST", token: token, body: body,
                                               contentType: "application/json")
        let json = (try? JSONSerialization.jsonObject(with: answer.body)) as? [String: Any] ?? [:]
        guard answer.status == 200, json["status"] as? String == "final" else {
            throw CLIError("demo check failed: \(Call.Methods.contract).\(Call.method.rawValue) answered \(answer.status): \(json)")
        }
        return json
    }

    /// Opens a release: unwraps the data key with the requester's X25519 key, checks the
    /// ciphertext against the hash on the chain, decrypts.
    static func open(_ body: Data, record: Hash256, as requester: IdentityKeys) throws -> [UInt8] {
        guard let json = try JSONSerialization.jsonObject(with: body) as? [String: Any],
              let sealedText = json["sealed_record"] as? String, let sealedBytes = Data(base64Encoded: sealedText),
              let wrappedText = json["wrapped_key"] as? String, let wrappedBytes = Data(base64Encoded: wrappedText),
              let entry = json["record"] as? [String: Any], let version = entry["version"] as? Int,
              let hash = (entry["ciphertext_hash"] as? String).flatMap(Hash256.init(hex:)) else {
            throw CLIError("demo check failed: a release without sealed_record, wrapped_key or record")
        }
        let sealed = try SealedRecord(bytes: Array(sealedBytes))
        guard sealed.hash == hash else { throw CLIError("demo check failed: the ciphertext does not match the hash on the chain") }
        let key = try KeyWrap.unwrap(try WrappedKey(bytes: Array(wrappedBytes)), with: requester.agreement,
                                     context: WrapContext(record: record, version: UInt64(version), recipient: requester.derivedID))
        return try RecordCipher.open(sealed, with: key, record: record, version: UInt64(version))
    }

    /// Waits (up to 30 s) until every node reports the same height, state root and final height;
    /// their health answers, each with its node's name.
    static func converged(_ network: LocalNetwork) async throws -> [[String: Any]] {
        let deadline = ContinuousClock.now + .seconds(30)
        var seen: [[String: Any]] = []
        while ContinuousClock.now < deadline {
            seen = await network.status().compactMap { state in
                guard var health = state.health, health["chainId"] != nil else { return nil }
                health["name"] = state.name
                return health.mapValues { $0 as Any }
            }
            let views = Set(seen.map { "\($0["height"] ?? "")/\($0["stateRoot"] ?? "")/\($0["finalHeight"] ?? "")" })
            if seen.count == network.layout.organizations.count, views.count == 1 { return seen }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CLIError("demo check failed: the nodes did not converge on one head, state root and final height: \(seen)")
    }
}
