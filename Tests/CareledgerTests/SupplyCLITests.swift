import Foundation
import LedgerCore
import Testing

/// The supply and rx commands driven as child processes against one data directory.
@Suite("Supply chain and prescriptions through the command line")
struct SupplyCLITests {
    static let gtin = "00312345678906"

    /// The whole path from product to dispensed pack, and the refusals scripts rely on (exit 3).
    @Test(.timeLimit(.minutes(3)))
    func productToDispensedPackAndRefusals() async throws {
        let cli = try CLIWorkspace("supply")
        defer { cli.remove() }
        func refused(_ args: [String], _ code: String) async throws {
            let result = try await cli.run(args)
            #expect(result.status == 3 && result.stderr.contains(code), "\(args): \(result.status) \(result.stderr)")
        }
        func json(_ text: String) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        }
        let g = Self.gtin
        let expiry = ClaimsCLITests.date(daysFromNow: 700)

        try await cli.ok(["init", "--organization", "mfr:manufacturer", "--organization", "dist:distributor",
                      "--organization", "pharm:pharmacy", "--organization", "hosp:hospital"])
        for name in ["doc", "lee", "pat"] { try await cli.ok(["keys", "new", name]) }
        for (org, name, role) in [("hosp", "doc", "clinician"), ("pharm", "lee", "pharmacist")] {
            try await cli.ok(["submit", "--as", org, "--contract", "membership", "--method", "enroll", "--args",
                          "{\"kind\":\"member\",\"label\":\"\(name)\",\"roles\":[\"\(role)\"],\"signingKey\":\"@signing:\(name)\",\"agreementKey\":\"@agreement:\(name)\"}"])
        }
        try await cli.ok(["submit", "--as", "pat", "--contract", "membership", "--method", "registerPatient", "--args", #"{"agreementKey":"@agreement:pat"}"#])

        // Bad input is exit 1 and names the problem; a refusal by the contract is exit 3.
        let badGTIN = try await cli.run(["supply", "product", "--as", "mfr", "--gtin", "00312345678907", "--label", "X"])
        #expect(badGTIN.status == 1 && badGTIN.stderr.contains("check digit"), "\(badGTIN.stderr)")
        try await refused(["supply", "product", "--as", "pharm", "--gtin", g, "--label", "Amoxicillin"], "notManufacturer")
        #expect(try await cli.ok(["supply", "product", "--as", "mfr", "--gtin", g, "--label", "Amoxicillin 500 mg caps 30"]).contains("registered"))
        let commissioned = try await cli.ok(["supply", "commission", "--as", "mfr", "--gtin", g, "--lot", "L1", "--expiry", expiry,
                                         "--count", "4", "--prefix", "S", "--json"])
        #expect(try json(commissioned)["serials"] as? [String] == ["S0001", "S0002", "S0003", "S0004"])
        try await cli.ok(["supply", "commission", "--as", "mfr", "--gtin", g, "--lot", "L2", "--expiry", expiry, "--serials", "R1,R2"])

        // Custody: manufacturer → distributor (one case, loose units) → pharmacy; only the addressee receives.
        try await cli.ok(["supply", "pack", "--as", "mfr", "--sscc", "000312345000000011", "--gtin", g, "--units", "S0001,S0002"])
        #expect(try await cli.ok(["supply", "ship", "--as", "mfr", "--to", "dist", "--cases", "000312345000000011",
                              "--units", "\(g):S0003,(01)\(g)(21)S0004", "--units", "\(g):R1"]).contains("3 units and 1 case (2 units)"))
        try await refused(["supply", "receive", "--as", "pharm", "--from", "mfr", "--gtin", g, "--units", "S0003"], "notPendingRecipient")
        try await cli.ok(["supply", "receive", "--as", "dist", "--from", "mfr", "--cases", "000312345000000011", "--gtin", g, "--units", "S0003,S0004,R1"])
        try await cli.ok(["supply", "unpack", "--as", "dist", "--sscc", "000312345000000011"])
        try await cli.ok(["supply", "ship", "--as", "dist", "--to", "pharm", "--gtin", g, "--units", "S0001,S0002,S0003"])
        try await cli.ok(["supply", "receive", "--as", "lee", "--from", "dist", "--gtin", g, "--units", "S0001,S0002,S0003"])
        let active = try await cli.ok(["supply", "trace", "\(g):S0001"])
        #expect(active.contains("active (in good standing)") && active.contains("owner         pharm") && active.contains("shipped       dist → pharm"),
                "\(active)")

        // A prescription: one unit per fill and one refill; the MedicationRequest is hashed locally.
        let requestText = #"{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/p1"},"dispenseRequest":{"numberOfRepeatsAllowed":1,"quantity":{"value":1}}}"#
        let request = cli.files.appendingPathComponent("medication-request.json")
        try Data(requestText.utf8).write(to: request)
        let conflict = try await cli.run(["rx", "issue", "--as", "doc", "--patient", "pat", "--gtin", g, "--refills", "2", "--file", request.path])
        #expect(conflict.status == 1 && conflict.stderr.contains("numberOfRepeatsAllowed"), "\(conflict.stderr)")
        try await refused(["rx", "issue", "--as", "lee", "--patient", "pat", "--gtin", g, "--file", request.path], "notPrescriber")
        let issued = try json(try await cli.ok(["rx", "issue", "--as", "doc", "--patient", "pat", "--gtin", g, "--days", "30", "--file", request.path, "--json"]))
        let prescription = try #require(issued["prescription"] as? String)
        #expect(issued["fillsAllowed"] as? Int == 2)
        #expect(issued["medicationRequestHash"] as? String == Hash256.sha256(Array(requestText.utf8)).hex, "only the file's SHA-256 goes on-chain")
        #expect(try await cli.ok(["rx", "fill", prescription, "--as", "lee", "--units", "S0001"]).contains("fill 1 of 2"))
        #expect(try await cli.ok(["rx", "fill", prescription, "--as", "lee", "--units", "\(g):S0002"]).contains("no fills left"))
        try await refused(["rx", "fill", prescription, "--as", "lee", "--units", "S0003"], "noFillsLeft")
        let shown = try json(try await cli.ok(["rx", "show", prescription, "--json"]))
        #expect(shown["status"] as? String == "completed" && shown["fills_used"] as? Int == 2 && (shown["fills"] as? [Any])?.count == 2)

        // The dispensed pack's trace: full chain of custody, exit 3 because it is no longer in the supply chain.
        let traced = try await cli.run(["supply", "trace", "\(g):S0001", "--json"])
        #expect(traced.status == 3)
        let trace = try json(traced.stdout)
        #expect(trace["status"] as? String == "dispensed" && (trace["names"] as? [String: String])?[trace["owner"] as? String ?? ""] == "pharm")
        let kinds = (trace["custody"] as? [[String: Any]])?.compactMap { $0["kind"] as? String }
        #expect(kinds == ["commissioned", "packed", "shipped", "received", "unpacked", "shipped", "received", "dispensed"], "\(kinds ?? [])")

        // A counterfeit: verify records an incident (exit 3), trace shows it, and it cannot be dispensed.
        let verified = try await cli.run(["supply", "verify", "\(g):FAKE-1", "--as", "lee"])
        #expect(verified.status == 3 && verified.stdout.contains("INCIDENT unknown-serial") && verified.stdout.contains("counterfeit"), "\(verified)")
        let fake = try await cli.run(["supply", "trace", "\(g):FAKE-1"])
        #expect(fake.status == 3 && fake.stdout.contains("UNKNOWN") && fake.stdout.contains("unknown-serial, reported by pharm"), "\(fake.stdout)")
        #expect(try await cli.ok(["supply", "verify", "\(g):S0003", "--as", "lee", "--lot", "L1", "--expiry", expiry]).contains("GENUINE"))
        let bare = cli.files.appendingPathComponent("bare-request.json")
        try Data(#"{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/p1"}}"#.utf8).write(to: bare)
        let noQuantity = try await cli.run(["rx", "issue", "--as", "doc", "--patient", "pat", "--gtin", g, "--file", bare.path])
        #expect(noQuantity.status == 1 && noQuantity.stderr.contains("--quantity"), "\(noQuantity.stderr)")
        let second = try json(try await cli.ok(["rx", "issue", "--as", "doc", "--patient", "pat", "--gtin", g, "--quantity", "1",
                                            "--file", bare.path, "--json"]))
        let secondID = try #require(second["prescription"] as? String)
        try await refused(["rx", "fill", secondID, "--as", "lee", "--units", "FAKE-1"], "unknownUnit")

        // A recalled lot can no longer move.
        try await refused(["supply", "recall", "--as", "dist", "--gtin", g, "--lot", "L2", "--reason", "contamination"], "notManufacturer")
        #expect(try await cli.ok(["supply", "recall", "--as", "mfr", "--gtin", g, "--lot", "L2", "--reason", "contamination"]).contains("recalled"))
        try await refused(["supply", "ship", "--as", "dist", "--to", "pharm", "--units", "\(g):R1"], "unitRecalled")
        #expect(try await cli.run(["supply", "trace", "\(g):R1"]).stdout.contains("RECALLED      contamination"))

        try await cli.ok(["rx", "fill", secondID, "--as", "lee", "--units", "S0003"])
        #expect(try await cli.run(["verify"]).status == 0)
    }
}
