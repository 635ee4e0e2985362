/// Inter-annotator agreement on nominal answers.
public enum Agreement {
    /// Cohen's kappa for two annotators over the items both answered:
    /// κ = (p_o − p_e) / (1 − p_e), p_e from each annotator's own label distribution.
    /// nil when there is nothing to compare or chance agreement is total.
    public static func cohensKappa(_ pairs: [(String, String)]) -> Double? {
        guard !pairs.isEmpty else { return nil }
        let n = Double(pairs.count)
        var agree = 0.0
        var first: [String: Double] = [:], second: [String: Double] = [:]
        for (a, b) in pairs {
            if a == b { agree += 1 }
            first[a, default: 0] += 1
            second[b, default: 0] += 1
        }
        let po = agree / n
        var pe = 0.0
        for (label, count) in first { pe += (count / n) * ((second[label] ?? 0) / n) }
        guard pe < 1 else { return nil }
        return (po - pe) / (1 - pe)
    }

    /// Krippendorff's alpha for nominal data, any number of annotators, missing answers allowed
    /// (units answered by fewer than two annotators do not count):
    /// α = 1 − (n − 1) · Σ_{c≠k} o_ck / Σ_{c≠k} n_c n_k, from the coincidence matrix o.
    public static func krippendorffsAlpha(_ units: [[String]]) -> Double? {
        var coincidences: [String: [String: Double]] = [:]
        for values in units where values.count >= 2 {
            let m = Double(values.count)
            for (i, c) in values.enumerated() {
                for (j, k) in values.enumerated() where i != j {
                    coincidences[c, default: [:]][k, default: 0] += 1 / (m - 1)
                }
            }
        }
        var marginals: [String: Double] = [:]
        for (c, row) in coincidences { marginals[c] = row.values.reduce(0, +) }
        let n = marginals.values.reduce(0, +)
        guard n > 1 else { return nil }
        var observed = 0.0
        for (c, row) in coincidences { for (k, o) in row where k != c { observed += o } }
        var expected = 0.0
        for (c, nc) in marginals { for (k, nk) in marginals where k != c { expected += nc * nk } }
        guard expected > 0 else { return nil }
        return 1 - (n - 1) * observed / expected
    }
}
