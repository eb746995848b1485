import Contracts
import Foundation
import LedgerCore
import Node
import Server
import Services
import Testing

@Suite("Portal in headless Chromium: a payer decides, a pharmacist scans and fills", .serialized)
struct PortalStaffBrowserTests {
    /// The payer's agent approves a pending prior authorization from the claims queue and the
    /// pharmacist scans a pack, then fills a prescription with two scanned packs — both transactions
    /// signed in the browser with keys it holds and decided by the contracts; the test then reads
    /// the ledger: the authorization approved for 1 unit, the prescription filled once by the
    /// pharmacist with those packs, now dispensed. Screenshots in .build/test-output/portal-staff/.
    @Test(.timeLimit(.minutes(12)), .enabled(if: BrowserTools.missing == nil, "\(BrowserTools.missing ?? "")"))
    func payerDecidesAndPharmacistScansAndFills() async throws {
        try await PortalFixture.with { fixture in
            let world = try await PayerPharmacyWorld(fixture)
            let payerKey = fixture.directory.appendingPathComponent("agent.json"), pharmacistKey = fixture.directory.appendingPathComponent("phil.json")
            try PortalFixture.keyFile("agent", world.payerAgent, passphrase: nil).write(to: payerKey)
            try PortalFixture.keyFile("phil", world.pharmacist, passphrase: nil).write(to: pharmacistKey)
            let output = BrowserTools.output.deletingLastPathComponent().appendingPathComponent("portal-staff")
            try? FileManager.default.removeItem(at: output)
            let result = try await LedgerServer.withServerInProcess(services: { url in await fixture.services(publicURL: url) }) { port in
                try await BrowserTools.run(
                    ["http://127.0.0.1:\(port)", payerKey.path, pharmacistKey.path, world.authorization.hex, world.prescription.hex,
                     world.dataMatrix("S1", separator: "<GS>"), "(01)\(world.gtin)(21)S2", output.path],
                    script: BrowserTools.packageRoot.appendingPathComponent("Tests/PortalTests/browser/staff_browser.py"),
                    in: fixture.directory, timeoutSeconds: 240)
            }
            result.expectPassed("staff browser test: all steps passed")
            let state = fixture.node.state
            let authorization = try #require(ClaimsContract.authorization(world.authorization, in: state))
            #expect(authorization.status == .approved && authorization.remaining == 1)
            let prescription = try #require(PrescriptionContract.prescription(world.prescription, in: state))
            #expect(prescription.fillsUsed == 1 && prescription.fills.first?.by == world.pharmacist.derivedID)
            #expect(Set(prescription.fills.first?.units.map(\.serial) ?? []) == ["S1", "S2"])
            let view = await LedgerView.of(fixture.node, audit: fixture.access)
            #expect(try view.serialVerification(gtin: world.gtin, serial: "S1").status == .dispensed)
            for name in ["payer.png", "payer-decided.png", "payer-phone.png", "pharmacy-verified.png", "pharmacy-filled.png", "pharmacy-phone.png"] {
                #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent(name).path), "\(name)")
            }
        }
    }
}
