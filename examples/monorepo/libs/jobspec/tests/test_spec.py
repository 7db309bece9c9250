import json
import unittest

import jobspec


class ParseTest(unittest.TestCase):
    def test_full_spec(self) -> None:
        spec = jobspec.parse(
            {
                "id": "nightly-report",
                "command": ["report", "--daily"],
                "timeout_s": 30,
                "retries": 2,
                "env": {"REPORT_DAY": "monday"},
            }
        )
        self.assertEqual(spec.id, "nightly-report")
        self.assertEqual(spec.command, ("report", "--daily"))
        self.assertEqual(spec.timeout_s, 30.0)
        self.assertEqual(spec.retries, 2)
        self.assertEqual(spec.env, {"REPORT_DAY": "monday"})

    def test_defaults(self) -> None:
        spec = jobspec.parse({"id": "a", "command": ["true"]})
        self.assertEqual((spec.timeout_s, spec.retries, spec.env), (60.0, 0, {}))

    def test_round_trip(self) -> None:
        spec = jobspec.parse({"id": "x.1", "command": ["echo", ""], "env": {"A": "b"}})
        self.assertEqual(jobspec.loads(jobspec.dumps(spec)), spec)

    def test_every_problem_is_reported(self) -> None:
        with self.assertRaises(jobspec.SpecError) as caught:
            jobspec.parse(
                {
                    "id": "Bad Id",
                    "command": "echo hi",
                    "timeout_s": 0,
                    "retries": 11,
                    "env": {"1X": "v", "OK": 3},
                    "priority": 5,
                }
            )
        fields = [p.split(":")[0] for p in caught.exception.problems]
        self.assertEqual(
            fields, ["priority", "id", "command", "timeout_s", "retries", "env", "env"]
        )

    def test_rejected_values(self) -> None:
        bad = [
            {"id": "", "command": ["x"]},
            {"id": ".hidden", "command": ["x"]},
            {"id": "../etc", "command": ["x"]},
            {"id": "a" * 65, "command": ["x"]},
            {"id": "a", "command": []},
            {"id": "a", "command": [""]},
            {"id": "a", "command": ["x", 1]},
            {"id": "a", "command": ["x"], "timeout_s": True},
            {"id": "a", "command": ["x"], "timeout_s": jobspec.MAX_TIMEOUT_S + 1},
            {"id": "a", "command": ["x"], "retries": False},
            {"id": "a", "command": ["x"], "retries": 1.5},
            {"id": "a", "command": ["x"], "retries": -1},
            {"id": "a", "command": ["x"], "env": ["A=b"]},
            ["not", "an", "object"],
        ]
        for data in bad:
            with self.subTest(data=data), self.assertRaises(jobspec.SpecError):
                jobspec.parse(data)

    def test_loads_rejects_non_json(self) -> None:
        with self.assertRaises(jobspec.SpecError) as caught:
            jobspec.loads("{nope")
        self.assertIn("not JSON", str(caught.exception))

    def test_new_ids_are_valid_and_distinct(self) -> None:
        ids = {jobspec.new_id() for _ in range(100)}
        self.assertEqual(len(ids), 100)
        self.assertTrue(all(jobspec.valid_id(i) for i in ids))

    def test_dumps_is_stable_json(self) -> None:
        spec = jobspec.parse({"id": "a", "command": ["true"]})
        self.assertEqual(list(json.loads(jobspec.dumps(spec))), sorted(spec.to_dict()))


if __name__ == "__main__":
    unittest.main()
