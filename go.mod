module github.com/rangetx/rangetx

go 1.26.0
