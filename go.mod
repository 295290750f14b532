module outflow

go 1.24
