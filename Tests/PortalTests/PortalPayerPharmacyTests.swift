import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import NIOCore
import Node
@testable import Portal
import Server
import Services
import Storage
import Testing

/// Payers, a pharmacy and their ledger objects on top of `PortalFixture`: two payers with a plan
/// each, claims under both (one paid with CARC 45 and 2, one denied for a missing prior
/// authorization, CARC 197), a pending prior authorization, a manufacturer's product with three
/// good packs and one whose expiry has passed by the ledger's time, all received by the pharmacy,
/// and a prescription of two packs.
struct PayerPharmacyWorld {
    static func k(_ n: UInt8) -> IdentityKeys { IdentityKeys(seed: Array(repeating: n, count: 32)) }
    let payer = k(81), otherPayer = k(82), payerAgent = k(83), maker = k(84), pharmacy = k(85), pharmacist = k(86), patient = k(87)
    let gtin = (0...9).map { "0061414100003\($0)" }.first(where: gs1CheckDigitValid)!
    let goodExpiryMs: Int64
    let goodLot = "L7"
    var paidClaim = Hash256.zero, deniedClaim = Hash256.zero, otherClaim = Hash256.zero, authorization = Hash256.zero, prescription = Hash256.zero
    var coverage = Hash256.zero, memberID = Hash256.zero

    init(_ fixture: PortalFixture) async throws {
        let node = fixture.node
        @discardableResult
        func commit(_ keys: IdentityKeys, _ call: some ContractMethod) async throws -> Hash256 {
            let sequence = BlockExecutor.lastSequence(of: keys.derivedID, in: node.state) + 1
            let transaction = Transaction.sign(TransactionBody(chainId: PortalFixture.chainId, sender: keys.derivedID, publicKey: keys.signingPublicKey,
                                                               sequence: sequence, call: call), with: keys)
            let receipt = try await node.submitAndWait(transaction, timeoutMs: 60_000)
            #expect(receipt.status.result.isAccepted, "\(type(of: call)): \(receipt.status.result.message)")
            return transaction.id
        }
        let start = max(Int64(Date().timeIntervalSince1970 * 1_000), await node.headHeader.timeMs)
        goodExpiryMs = (start / 86_400_000 + 200) * 86_400_000  // a day boundary, as a DataMatrix's (17) says it
        for (keys, type, label) in [(payer, OrganizationType.payer, "Acme Health"), (otherPayer, .payer, "Other Mutual"),
                                    (maker, .manufacturer, "Pharmaco"), (pharmacy, .pharmacy, "Corner Pharmacy")] {
            try await commit(fixture.hospital, MembershipContract.AdmitOrganization(label: label, organizationType: type, signingKey: keys.signingPublicKey,
                                                                                    agreementKey: keys.agreementPublicKey))
        }
        try await commit(payer, MembershipContract.Enroll(label: "Pat Payer-Agent", roles: [.payerAgent], signingKey: payerAgent.signingPublicKey,
                                                          agreementKey: payerAgent.agreementPublicKey))
        try await commit(pharmacy, MembershipContract.Enroll(label: "Phil Pharmacist", roles: [.pharmacist], signingKey: pharmacist.signingPublicKey,
                                                             agreementKey: pharmacist.agreementPublicKey))
        try await commit(patient, MembershipContract.RegisterPatient(agreementKey: patient.agreementPublicKey))

        // Supply: three good packs and one expiring in four seconds, all at the pharmacy.
        // Far enough ahead that the commission commits before it on a loaded machine (4 s was not, in CI).
        let expiringMs = max(Int64(Date().timeIntervalSince1970 * 1_000), await node.headHeader.timeMs) + 15_000
        try await commit(maker, SupplyChainContract.RegisterProduct(gtin: gtin, label: "amoxicillin 500 mg"))
        try await commit(maker, SupplyChainContract.Commission(gtin: gtin, lot: goodLot, expiryMs: goodExpiryMs, serials: ["S1", "S2", "S3"]))
        try await commit(maker, SupplyChainContract.Commission(gtin: gtin, lot: "LX", expiryMs: expiringMs, serials: ["E1"]))
        let units = ["S1", "S2", "S3", "E1"].map { SGTIN(gtin: gtin, serial: $0) }
        try await commit(maker, SupplyChainContract.Ship(to: pharmacy.derivedID, units: units))
        try await commit(pharmacy, SupplyChainContract.Receive(from: maker.derivedID, units: units))
        prescription = try await commit(fixture.clinician, PrescriptionContract.Issue(
            medicationRequestHash: Hash256.sha256([1]), patient: patient.derivedID, gtin: gtin, quantity: 2, refills: 0,
            expiresMs: start + 10 * 86_400_000))

        // Claims: a plan per payer, the patient covered by both, two documented visits at the clinic.
        try await commit(payer, ClaimsContract.RegisterPlan(plan: "GOLD", currency: "USD", deductible: 0, coinsurance: 2_000, outOfPocketMax: 500_000,
                                                            benefits: [.init(code: "99213", allowed: 10_000), .init(code: "70553", allowed: 120_000, priorAuth: true)]))
        try await commit(otherPayer, ClaimsContract.RegisterPlan(plan: "OTHER", currency: "USD", deductible: 0, coinsurance: 0, outOfPocketMax: 500_000,
                                                                 benefits: [.init(code: "99213", allowed: 10_000)]))
        let gold = CoverageEnrollment(plan: "GOLD", patient: patient.derivedID, startMs: start - 86_400_000, endMs: start + 100 * 86_400_000)
        let other = CoverageEnrollment(plan: "OTHER", patient: patient.derivedID, startMs: start - 86_400_000, endMs: start + 100 * 86_400_000)
        coverage = try await commit(payerAgent, gold.call)
        memberID = gold.memberID
        try await commit(otherPayer, other.call)
        let visits = [Hash256.sha256([2]), Hash256.sha256([3]), Hash256.sha256([4])]
        for visit in visits {
            try await commit(fixture.clinician, RecordsContract.Register(record: visit, patient: patient.derivedID, resourceType: "Encounter",
                                                                         category: .general, ciphertextHash: Hash256.sha256(visit.bytes), version: 1))
        }
        func claim(_ n: UInt8, plan: String, member: Hash256, code: String, price: Int64, visit: Hash256) async throws -> Hash256 {
            let id = Hash256.sha256([n, 99])
            try await commit(fixture.clinic, ClaimsContract.Submit(
                claim: id, plan: plan, patient: patient.derivedID, memberID: member, claimHash: Hash256.sha256([n]), diagnoses: ["J06.9"],
                items: [ClaimItem(sequence: 1, code: code, quantity: 1, unitPriceMinor: price, serviceMs: start - 3_600_000, record: visit)]))
            return id
        }
        paidClaim = try await claim(1, plan: "GOLD", member: gold.memberID, code: "99213", price: 12_000, visit: visits[0])
        deniedClaim = try await claim(2, plan: "GOLD", member: gold.memberID, code: "70553", price: 150_000, visit: visits[1])
        otherClaim = try await claim(3, plan: "OTHER", member: other.memberID, code: "99213", price: 12_000, visit: visits[2])
        authorization = try await commit(fixture.clinic, ClaimsContract.RequestAuthorization(plan: "GOLD", patient: patient.derivedID, code: "70553",
                                                                                             quantity: 2))
        // A block after the expiring pack's expiry: by the ledger's time it has expired.
        while Int64(Date().timeIntervalSince1970 * 1_000) <= expiringMs + 50 { try await Task.sleep(for: .milliseconds(100)) }
        let another = (0...9).map { "0061414100004\($0)" }.first(where: gs1CheckDigitValid)!
        try await commit(maker, SupplyChainContract.RegisterProduct(gtin: another, label: "ibuprofen 400 mg"))
        #expect(await node.headHeader.timeMs > expiringMs)
    }

    /// The pack's DataMatrix content: (01) GTIN, (17) expiry, (10) lot, group separator, (21) serial.
    func dataMatrix(_ serial: String, lot: String? = nil, separator: String = "\u{1D}") -> String {
        let day = String(SupplyCLI.expiryDay(goodExpiryMs).replacingOccurrences(of: "-", with: "").dropFirst(2))
        return "]d2" + "01" + gtin + "17" + day + "10" + (lot ?? goodLot) + separator + "21" + serial
    }
}

@Suite("Portal: the payer's and the pharmacist's pages", .serialized)
struct PortalPayerPharmacyTests {
    static let publicURL = "http://127.0.0.1"

    static func withWorld(_ body: @escaping @Sendable (PortalFixture, PayerPharmacyWorld, inout PortalBrowser) async throws -> Void) async throws {
        try await PortalFixture.with { fixture in
            let world = try await PayerPharmacyWorld(fixture)
            let services = await fixture.services(publicURL: publicURL)
            try await LedgerServer.application(services, port: 0).test(.router) { client in
                var browser = PortalBrowser(client: client)
                try await body(fixture, world, &browser)
            }
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aPayerSeesOnlyItsOwnClaimsWithReasonsAndTotals() async throws {
        try await Self.withWorld { fixture, world, browser in
            _ = try await browser.signIn(world.payerAgent, name: "agent")
            let home = try await browser.get("/portal")
            #expect(home.status == .seeOther && home.headers[.location] == "/portal/payer", "payer staff start on the payer page")
            let page = try await browser.get("/portal/payer")
            #expect(page.status == .ok, "\(page.body.prefix(2_000))")
            let body = page.body
            #expect(body.contains(world.paidClaim.hex) && body.contains(world.deniedClaim.hex), "both claims under the payer's plan")
            #expect(!body.contains(world.otherClaim.hex), "another payer's claim is not on the page")
            #expect(body.contains("Plan GOLD") && !body.contains("Plan OTHER"))
            // Lines, CARC codes with their meaning, totals in the plan's currency.
            #expect(body.contains(">45<") && body.contains("billed above the plan") && body.contains(">2<"))
            #expect(body.contains(">197<") && body.contains(AdjustmentReason.priorAuthMissing.text))
            #expect(body.contains("120.00 USD") && body.contains("100.00 USD") && body.contains("80.00 USD") && body.contains("20.00 USD"))
            #expect(body.contains("data-outcome=\"denied\"") && body.contains("data-outcome=\"paid\""))
            // The pending authorization has a decision form; the page signs nothing itself.
            #expect(body.contains("data-authorization=\"\(world.authorization.hex)\"") && body.contains("/static/staff.js"))
            #expect(!body.contains("<script>") && !body.contains("style="))
            // What the page showed, the service shows; and each claim shown was logged for the patient first.
            let view = await LedgerView.of(fixture.node, audit: fixture.access)
            let agent = try #require(Directory.identity(world.payerAgent.derivedID, in: fixture.node.state))
            let node = fixture.node
            let listed = try await view.payerClaims(as: agent, rows: { try node.visibleStates(prefix: $0, after: $1, limit: $2) })
            #expect(Set((listed["claims"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }) == [world.paidClaim.hex, world.deniedClaim.hex])
            let patient = try #require(Directory.identity(world.patient.derivedID, in: fixture.node.state))
            let log = try fixture.access.accessLog(world.patient.derivedID, as: patient, after: nil, limit: 1_000)
            let reads = (log["entries"] as? [[String: Any]] ?? []).filter { $0["requester"] as? String == world.payerAgent.derivedID.hex }
            #expect(reads.contains { $0["record"] as? String == world.paidClaim.hex && $0["outcome"] as? String == "permit" }, "\(reads)")
            #expect(!reads.contains { $0["record"] as? String == world.otherClaim.hex })

            // The other payer's staff see the other claim only; a pharmacist is refused the payer page.
            var other = PortalBrowser(client: browser.client)
            _ = try await other.signIn(world.otherPayer, name: "other")
            let otherPage = try await other.get("/portal/payer")
            #expect(otherPage.body.contains(world.otherClaim.hex) && !otherPage.body.contains(world.paidClaim.hex))
            var pharmacist = PortalBrowser(client: browser.client)
            _ = try await pharmacist.signIn(world.pharmacist, name: "phil")
            #expect(try await pharmacist.get("/portal").headers[.location] == "/portal/pharmacy")
            let refused = try await pharmacist.get("/portal/payer")
            #expect(refused.status == .forbidden && refused.body.contains("payer organization"), "\(refused.body.prefix(1_000))")

            // Coverage look-up: found with the member id, as GET /v1/coverages; a wrong member id looks like none.
            let csrf = try #require(page.field("csrf"))
            let found = try await browser.post("/portal/payer/coverage", form: ["csrf": csrf, "coverage": world.coverage.hex,
                                                                                 "patient": world.patient.derivedID.hex, "member": world.memberID.hex])
            #expect(found.status == .ok && found.body.contains("id=\"coverage-result\"") && found.body.contains("GOLD"), "\(found.body.prefix(1_000))")
            let missing = try await browser.post("/portal/payer/coverage", form: ["csrf": csrf, "coverage": world.coverage.hex,
                                                                                   "patient": world.patient.derivedID.hex, "member": Hash256.sha256([5]).hex])
            #expect(missing.status == .badRequest && missing.body.contains("no coverage"), "\(missing.body.prefix(1_000))")
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func everyPayerAndPharmacyFormNeedsItsCSRFToken() async throws {
        try await Self.withWorld { _, world, browser in
            _ = try await browser.signIn(world.pharmacist, name: "phil")
            let page = try await browser.get("/portal/pharmacy")
            #expect(page.status == .ok)
            let csrf = try #require(page.field("csrf"))
            let forms: [(String, [String: String])] = [
                ("/portal/pharmacy/verify", ["gtin": world.gtin, "serial": "S1"]),
                ("/portal/pharmacy/fill", ["prescription": world.prescription.hex, "packs": "S1\nS2"]),
                ("/portal/payer/coverage", ["coverage": world.coverage.hex, "patient": world.patient.derivedID.hex, "member": world.memberID.hex]),
            ]
            for (path, fields) in forms {
                let missing = try await browser.post(path, form: fields)
                #expect(missing.status == .forbidden && missing.body.contains("CSRF"), "\(path) without a token")
                var wrong = fields
                wrong["csrf"] = "not-the-token"
                #expect(try await browser.post(path, form: wrong).status == .forbidden, "\(path) with another token")
                var right = fields
                right["csrf"] = csrf
                let foreign = try await browser.post(path, form: right, headers: [.origin: "http://evil.example"])
                #expect(foreign.status == .forbidden, "\(path) from another origin")
            }
            // With the token the verify form answers.
            let verified = try await browser.post("/portal/pharmacy/verify", form: ["csrf": csrf, "gtin": world.gtin, "serial": "S1"])
            #expect(verified.status == .ok && verified.body.contains("GENUINE"), "\(verified.body.prefix(1_000))")
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func scansAreReadAsGS1AndBadOnesShowTheirError() async throws {
        try await Self.withWorld { _, world, browser in
            _ = try await browser.signIn(world.pharmacist, name: "phil")
            let csrf = try #require(try await browser.get("/portal/pharmacy").field("csrf"))
            func verify(_ fields: [String: String]) async throws -> PortalBrowser.Page {
                var form = fields
                form["csrf"] = csrf
                return try await browser.post("/portal/pharmacy/verify", form: form)
            }
            // A raw DataMatrix (group separator as U+001D or typed <GS>) and the bracketed form: genuine, owner, custody.
            for scan in [world.dataMatrix("S1"), world.dataMatrix("S2", separator: "<GS>"), "(01)\(world.gtin)(21)S3"] {
                let page = try await verify(["scan": scan])
                #expect(page.status == .ok && page.body.contains("data-verdict=\"genuine\""), "\(scan): \(page.body.prefix(1_500))")
                #expect(page.body.contains("Corner Pharmacy") && page.body.contains("id=\"custody\"") && page.body.contains("received"))
            }
            // The lot printed in the code differs from the commissioned one: an incident, not genuine.
            let mismatch = try await verify(["scan": world.dataMatrix("S1", lot: "L9")])
            #expect(mismatch.body.contains("data-verdict=\"lot-mismatch\""), "\(mismatch.body.prefix(1_500))")
            // Bad scans: the parser's specific error on the form, the fields kept.
            let bad: [(String, String)] = [
                ("(01)12345678901234(21)X1", "has a wrong check digit"),
                ("]d201\(world.gtin)10\(world.goodLot)", "no serial number (21)"),
                ("01\(world.gtin)17261399\u{1D}21S1", "expiry (17)"),
                ("01\(world.gtin)21ABCDEFGHIJKLMNOPQRSTUVWXYZ", "at most 20 characters"),
                ("(01)\(world.gtin)(21)S1(21)S2", "appears twice"),
                ("(01)\(world.gtin)(21)S/1", "is not one this ledger records"),
                ("(01)\(world.gtin)(99", "expected an application identifier"),
            ]
            for (scan, message) in bad {
                let page = try await verify(["scan": scan])
                #expect(page.status == .badRequest && page.body.contains("id=\"verify-error\"") && page.body.contains(message),
                        "\(scan): \(page.body.prefix(2_000))")
            }
            // The same reader as the CLI: `careledger supply trace` takes the DataMatrix too.
            #expect(try SupplyCLI.sgtin(world.dataMatrix("S2"), gtin: nil) == SGTIN(gtin: world.gtin, serial: "S2"))
            let typed = try await verify(["gtin": "1234", "serial": "S1"])
            #expect(typed.status == .badRequest && typed.body.contains("is not a GTIN-8/12/13/14"))
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func anExpiredPackShowsExpiredByLedgerTimeAndAFillIsChecked() async throws {
        try await Self.withWorld { _, world, browser in
            _ = try await browser.signIn(world.pharmacist, name: "phil")
            let csrf = try #require(try await browser.get("/portal/pharmacy").field("csrf"))
            let expired = try await browser.post("/portal/pharmacy/verify", form: ["csrf": csrf, "gtin": world.gtin, "serial": "E1"])
            #expect(expired.status == .ok && expired.body.contains("data-verdict=\"expired\""), "\(expired.body.prefix(2_000))")
            #expect(expired.body.contains("INCIDENT: expired") && expired.body.contains("expired by ledger time"))
            #expect(expired.body.contains("the ledger's time is <time"), "judged at the head block's time")
            let unknown = try await browser.post("/portal/pharmacy/verify", form: ["csrf": csrf, "gtin": world.gtin, "serial": "FAKE9"])
            #expect(unknown.body.contains("data-verdict=\"unknown-serial\"") && unknown.body.contains("never commissioned"))

            // The fill form reads the prescription (a logged decision) and the scanned packs, and hands the browser the call to sign.
            let fill = try await browser.post("/portal/pharmacy/fill", form: ["csrf": csrf, "prescription": world.prescription.hex,
                                                                               "packs": world.dataMatrix("S1") + "\r\n" + "S2"])
            #expect(fill.status == .ok && fill.body.contains("id=\"fill-sign-form\"") && fill.body.contains("data-serial=\"S1\"")
                    && fill.body.contains("data-serial=\"S2\""), "\(fill.body.prefix(2_000))")
            #expect(fill.body.contains("id=\"rx-fills\">0 of 1 used"))
            let twice = try await browser.post("/portal/pharmacy/fill", form: ["csrf": csrf, "prescription": world.prescription.hex, "packs": "S1\nS1"])
            #expect(twice.status == .badRequest && twice.body.contains("listed twice"), "\(twice.body.prefix(2_000))")
            let badID = try await browser.post("/portal/pharmacy/fill", form: ["csrf": csrf, "prescription": "abc", "packs": "S1"])
            #expect(badID.status == .badRequest && badID.body.contains("64 hex"))
            let none = try await browser.post("/portal/pharmacy/fill", form: ["csrf": csrf, "prescription": Hash256.sha256([7]).hex, "packs": "S1"])
            #expect(none.status == .notFound && none.body.contains("no prescription"))
        }
    }
}
