// Command gojunit turns `go test -json` (test2json events on stdin) into JUnit XML on stdout,
// with the standard library only: a <testsuite> per package, a <testcase> per test, and for a
// failing test its output as the failure's text, its first `file.go:line:` as its place.
//
//	go test -json ./... > go-test.json; echo $? > exit-code; gojunit < go-test.json > junit.xml
package main

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

type testCase struct {
	XMLName   xml.Name `xml:"testcase"`
	Classname string   `xml:"classname,attr"`
	Name      string   `xml:"name,attr"`
	Time      string   `xml:"time,attr"`
	File      string   `xml:"file,attr,omitempty"`
	Line      string   `xml:"line,attr,omitempty"`
	Failure   *failure `xml:"failure,omitempty"`
	Skipped   *skipped `xml:"skipped,omitempty"`
}

type failure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type skipped struct {
	Message string `xml:"message,attr"`
}

type testSuite struct {
	XMLName  xml.Name   `xml:"testsuite"`
	Name     string     `xml:"name,attr"`
	Tests    int        `xml:"tests,attr"`
	Failures int        `xml:"failures,attr"`
	Errors   int        `xml:"errors,attr"`
	Skipped  int        `xml:"skipped,attr"`
	Time     string     `xml:"time,attr"`
	Cases    []testCase `xml:"testcase"`
}

type testSuites struct {
	XMLName xml.Name    `xml:"testsuites"`
	Suites  []testSuite `xml:"testsuite"`
}

type state struct {
	action  string
	elapsed float64
	output  []string
}

// `    server_test.go:42: want 200, got 404`: where t.Error or t.Fatal was called.
var place = regexp.MustCompile(`^\s+([\w./-]+\.go):(\d+): (.*)$`)

func main() {
	tests := map[string]map[string]*state{}
	order := map[string][]string{}
	elapsed := map[string]float64{}
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for scanner.Scan() {
		var e event
		if json.Unmarshal(scanner.Bytes(), &e) != nil || e.Package == "" {
			continue // not an event: a build error printed as it is
		}
		if e.Test == "" {
			if e.Action == "pass" || e.Action == "fail" {
				elapsed[e.Package] = e.Elapsed
			}
			continue
		}
		if tests[e.Package] == nil {
			tests[e.Package] = map[string]*state{}
		}
		s := tests[e.Package][e.Test]
		if s == nil {
			s = &state{}
			tests[e.Package][e.Test] = s
			order[e.Package] = append(order[e.Package], e.Test)
		}
		switch e.Action {
		case "output":
			s.output = append(s.output, strings.TrimRight(e.Output, "\n"))
		case "pass", "fail", "skip":
			s.action, s.elapsed = e.Action, e.Elapsed
		}
	}
	packages := make([]string, 0, len(tests))
	for p := range tests {
		packages = append(packages, p)
	}
	sort.Strings(packages)
	doc := testSuites{}
	for _, p := range packages {
		suite := testSuite{Name: p, Time: seconds(elapsed[p])}
		for _, name := range order[p] {
			s := tests[p][name]
			c := testCase{Classname: p, Name: name, Time: seconds(s.elapsed)}
			switch s.action {
			case "fail", "":
				message := "failed"
				if s.action == "" {
					message = "did not finish (a panic or a timeout)"
				}
				for _, line := range s.output {
					if m := place.FindStringSubmatch(line); m != nil {
						c.File, c.Line, message = m[1], m[2], strings.TrimSpace(m[3])
						break
					}
				}
				c.Failure = &failure{Message: message, Type: "failed", Text: strings.Join(s.output, "\n")}
				suite.Failures++
			case "skip":
				c.Skipped = &skipped{Message: "skipped"}
				suite.Skipped++
			}
			suite.Tests++
			suite.Cases = append(suite.Cases, c)
		}
		doc.Suites = append(doc.Suites, suite)
	}
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		fmt.Fprintln(os.Stderr, "gojunit:", err)
		os.Exit(1)
	}
	fmt.Println(xml.Header + string(out))
}

func seconds(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }
