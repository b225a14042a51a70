environment        = "dev"
region             = "eu-west-1"
vpc_cidr           = "10.10.0.0/16"
azs                = ["eu-west-1a", "eu-west-1b"]
public_subnets     = ["10.10.0.0/20", "10.10.16.0/20"]
private_subnets    = ["10.10.128.0/20", "10.10.144.0/20"]
single_nat_gateway = true

node_instance_types = ["t3.medium"]
node_min_size       = 1
node_max_size       = 3
node_desired_size   = 1

db_instance_class      = "db.t4g.micro"
db_multi_az            = false
db_deletion_protection = false

# The images live in the prod account's registry; dev pulls from there.
create_registry = false

tags = {
  CostCenter = "ironcage-dev"
}
